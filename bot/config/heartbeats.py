"""Heartbeats: a dead-man's switch for jobs that must keep running (a nightly import, the weather monitor, an
ML training run). The job POSTs to `/alerts/heartbeat/<name>` each time it runs; no beat within `within`
fires an alert like any other (bot.alerts.heartbeats; docs/alerts.md, "Heartbeats")."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

from bot.config.checklists import Checklist, HeartbeatCheck
from bot.config.secrets import SecretRef
from bot.config.services import Service
from bot.config.values import SERVICE_NAME, PositiveDuration, Problems, Severity, Strict, bounded, choices

WITHIN_MIN, WITHIN_MAX = timedelta(minutes=1), timedelta(days=366)


class HeartbeatConfig(Strict):
    """One job that beats: silent longer than `within` (since its last beat, or since the bot first watched it),
    it fires an alert keyed `hb:<name>`, which the next beat resolves."""

    name: str = Field(pattern=SERVICE_NAME)
    within: Annotated[PositiveDuration, AfterValidator(lambda v: bounded(v, low=WITHIN_MIN, high=WITHIN_MAX))]
    route: str | None = Field(default=None, min_length=1, max_length=64)   # a channel; default: alerts.routes
    severity: Severity | None = None             # default: alerts.default_severity
    service: str | None = None                   # a service from `services`: shown on the card, routes match it
    token: SecretRef | None = None               # the bearer token; default: the webhook's (alerts.webhook.token_env)


def validate_heartbeats(heartbeats: tuple[HeartbeatConfig, ...], checklists: Mapping[str, Checklist], *,
                        service: Callable[[str], Service | None], webhook_token_env: str | None) -> None:
    """Names are unique, a named service exists, every heartbeat has a token to check a beat against, and every
    `heartbeat` check of a checklist names a heartbeat."""
    problems = []
    names = [h.name for h in heartbeats]
    for i, hb in enumerate(heartbeats):
        if hb.name in names[:i]:
            problems.append((f"heartbeats[{i}].name", f"the heartbeat name {hb.name!r} is used twice"))
        if hb.service is not None and service(hb.service) is None:
            problems.append((f"heartbeats[{i}].service", f"no service named {hb.service!r}"))
        if hb.token is None and webhook_token_env is None:
            problems.append((f"heartbeats[{i}].token", "nothing to check a beat's token against: give "
                             "`token: {secret: ENV_VAR}` or set alerts.webhook.token_env"))
    for list_name, checklist in checklists.items():
        for j, check in enumerate(checklist.checks):
            if isinstance(check, HeartbeatCheck) and check.heartbeat not in names:
                problems.append((f"checklists.{list_name}.checks[{j}].heartbeat",
                                 f"no heartbeat named {check.heartbeat!r}; {choices(names, check.heartbeat)}"))
    if problems:
        raise Problems(problems)
