"""How alerts arrive, where their cards go, and who is told: receivers, routes, escalation, on-call rotations."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import Field, field_validator

from bot.config.values import SERVICE_NAME, SEVERITY, Duration, Strict, Zone

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


class EscalationStep(Strict):
    """`after` is measured from when the alert first fired; `notify` is `oncall` (the first rotation's
    person, or `oncall:<rotation>`) or Slack user IDs."""

    after: Duration
    notify: tuple[str, ...]

    @field_validator("notify", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value


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
    default_severity: str = Field(default="P3", pattern=SEVERITY)
    routes: tuple[Route, ...] = ()
    incident_severities: tuple[str, ...] = ("P1", "P2")   # these open an incident automatically
    channel_interval: Duration = timedelta(seconds=1)       # Slack allows about one message a second per channel
    escalation: dict[str, EscalationPolicy] = {}            # P1..P4 -> steps while nobody acknowledges
    storm_threshold: int = Field(default=10, ge=1)          # new cards per channel at once; the rest: one summary
    auto_resolve_after: Duration | None = None              # resolve when a source never sends `resolved`
    ack_timeout: Duration | None = None                     # acknowledged but unresolved this long: fire again

    @field_validator("escalation")
    @classmethod
    def _severity_keys(cls, value: dict[str, EscalationPolicy]) -> dict[str, EscalationPolicy]:
        bad = sorted(k for k in value if not re.match(SEVERITY, k))
        if bad:
            raise ValueError(f"escalation policies are per severity P1..P4 (bad: {', '.join(bad)})")
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
    members: tuple[str, ...] = Field(min_length=1)
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
