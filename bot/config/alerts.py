"""How alerts arrive, where their cards go, and who is told: receivers, routes, escalation, on-call rotations."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from bot.config.values import (
    SERVICE_NAME,
    SEVERITIES,
    SEVERITY,
    Duration,
    PositiveDuration,
    Problems,
    Severity,
    Strict,
    UserId,
    Zone,
    choices,
    slack_user_id,
)

SOURCES = ("sns", "alertmanager", "webhook", "heartbeat")   # what routes may match as `source`
DEFAULT_SEVERITY_MAP = {"critical": "P1", "page": "P1", "high": "P2", "error": "P2", "major": "P2",
                        "warning": "P3", "warn": "P3", "minor": "P3", "info": "P4", "low": "P4", "none": "P4"}


class SnsSettings(Strict):
    """CloudWatch alarms via an SNS HTTP(S) subscription."""

    topics: tuple[str, ...] = ()                 # TopicArns we accept (and confirm subscriptions for)
    cert_host_pattern: str = r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"
    cert_scheme: str = Field(default="https", pattern=r"^https?$")   # http only for loopback tests

    @field_validator("cert_host_pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class WebhookSettings(Strict):
    """The generic JSON webhook: authenticated by a bearer token or an HMAC, both read from the environment."""

    token_env: str | None = None                 # name of the env var holding the bearer token
    hmac_secret_env: str | None = None           # name of the env var holding the HMAC-SHA256 secret


class Route(Strict):
    """Alerts matching every key of `match` go to `channel`; the first matching route wins."""

    match: dict[str, str] = {}                   # severity / service / source / any label
    channel: str

    @model_validator(mode="after")
    def _can_match(self) -> Route:
        """Routes compare the mapped severity and the receiver's name: anything else would never match."""
        problems = []
        severity, source = self.match.get("severity"), self.match.get("source")
        if severity is not None and severity not in SEVERITIES:
            problems.append(("match.severity", f"routes compare the severity after mapping, so {severity!r} "
                             f"never matches; {choices(SEVERITIES)}"))
        if source is not None and source not in SOURCES:
            problems.append(("match.source", f"{source!r} is not a receiver, so it never matches; "
                             f"{choices(SOURCES, source)}"))
        if problems:
            raise Problems(problems)
        return self


def _notify_target(value: str) -> str:
    if value == "oncall" or value.startswith("oncall:"):
        return value
    return slack_user_id(value, or_else="`oncall`, `oncall:<rotation>` or ")


class EscalationStep(Strict):
    """`after` is measured from when the alert first fired; `notify` is `oncall` (the first rotation's
    person, or `oncall:<rotation>`) or Slack user IDs."""

    after: Duration
    notify: tuple[Annotated[str, AfterValidator(_notify_target)], ...]

    @field_validator("notify", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("notify")
    @classmethod
    def _somebody(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("notifies nobody: give `oncall`, `oncall:<rotation>` or Slack user IDs")
        return value


class EscalationPolicy(Strict):
    steps: tuple[EscalationStep, ...] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _in_order(cls, value: tuple[EscalationStep, ...]) -> tuple[EscalationStep, ...]:
        if [s.after for s in value] != sorted(s.after for s in value):
            raise ValueError("steps must be in order of `after`")
        return value


class AlertSettings(Strict):
    sns: SnsSettings = SnsSettings()
    webhook: WebhookSettings = WebhookSettings()
    severity_map: dict[str, str] = {}            # source severity word -> P1..P4 (added to the defaults)
    default_severity: Severity = "P3"
    routes: tuple[Route, ...] = ()
    incident_severities: tuple[Severity, ...] = ("P1", "P2")   # these open an incident automatically
    channel_interval: PositiveDuration = timedelta(seconds=1)  # Slack allows about one message a second per channel
    escalation: dict[str, EscalationPolicy] = {}            # P1..P4 -> steps while nobody acknowledges
    storm_threshold: int = Field(default=10, ge=1)          # new cards per channel at once; the rest: one summary
    auto_resolve_after: PositiveDuration | None = None      # resolve when a source never sends `resolved`
    ack_timeout: PositiveDuration | None = None             # acknowledged but unresolved this long: fire again

    @field_validator("escalation")
    @classmethod
    def _severity_keys(cls, value: dict[str, EscalationPolicy]) -> dict[str, EscalationPolicy]:
        bad = sorted(k for k in value if not re.match(SEVERITY, k))
        if bad:
            raise Problems([(k, f"escalation policies are per severity; {choices(SEVERITIES, k)}") for k in bad])
        return value

    @field_validator("severity_map")
    @classmethod
    def _p_levels(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k, v in value.items() if not re.match(SEVERITY, v))
        if bad:
            raise ValueError(f"map each severity to P1..P4 (bad: {', '.join(bad)})")
        return {k.lower(): v for k, v in value.items()}

    def severity(self, word: str | None) -> str:
        if word and re.match(SEVERITY, word.upper()):
            return word.upper()
        mapping = {**DEFAULT_SEVERITY_MAP, **self.severity_map}
        return mapping.get((word or "").lower(), self.default_severity)


class Rotation(Strict):
    """A rotation hands over at `start` (local wall-clock time in `timezone`) and then every `every`,
    going through `members` in order. Wall-clock: a 09:00 hand-over stays at 09:00 across DST."""

    name: str = Field(pattern=SERVICE_NAME)
    members: tuple[UserId, ...] = Field(min_length=1)
    start: datetime                              # naive local time of the first hand-over, e.g. 2026-11-02 09:00
    every: Duration = timedelta(weeks=1)
    timezone: Zone | None = None                 # default: the config's timezone

    @field_validator("start")
    @classmethod
    def _naive(cls, value: datetime) -> datetime:
        if value.tzinfo is not None:
            raise ValueError("write the local time without an offset; the rotation's timezone applies")
        return value

    @field_validator("every")
    @classmethod
    def _whole_hours(cls, value: timedelta) -> timedelta:
        if value < timedelta(hours=1):
            raise ValueError("hand-overs at least an hour apart")
        return value


class Oncall(Strict):
    rotations: tuple[Rotation, ...] = ()

    @field_validator("rotations")
    @classmethod
    def _unique(cls, value: tuple[Rotation, ...]) -> tuple[Rotation, ...]:
        seen: set[str] = set()
        problems = []
        for i, rotation in enumerate(value):
            if rotation.name in seen:
                problems.append((f"[{i}].name", f"the rotation name {rotation.name!r} is used twice"))
            seen.add(rotation.name)
        if problems:
            raise Problems(problems)
        return value


def validate_notify_targets(escalation: dict[str, EscalationPolicy], oncall: Oncall) -> None:
    """Every `oncall` target resolves to a rotation: one that resolves to nobody would page nobody."""
    names = [r.name for r in oncall.rotations]
    problems = []
    for severity, policy in escalation.items():
        for i, step in enumerate(policy.steps):
            for j, target in enumerate(step.notify):
                where = f"alerts.escalation.{severity}.steps[{i}].notify[{j}]"
                if target == "oncall" and not names:
                    problems.append((where, "`oncall` needs a rotation under oncall.rotations; none is defined"))
                elif target.startswith("oncall:") and target[7:] not in names:
                    problems.append((where, f"no rotation named {target[7:]!r}; "
                                     f"{choices(names, target[7:])}"))
    if problems:
        raise Problems(problems)
