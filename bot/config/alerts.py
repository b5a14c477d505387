"""How alerts arrive, where their cards go, and who is told: receivers, routes, escalation, on-call rotations."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, field_validator, model_validator

from bot.business_time import Calendar
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
    """One step: whom to tell (`notify`) and when, counted from when the alert first fired or the incident
    opened (in business time when the policy has `business_hours`). `unacknowledged_after` (its old name,
    `after`, still works) applies while nobody has acknowledged; `unresolved_after` while the incident is not
    resolved, acknowledged or not. `notify` is `oncall` (the first rotation's person, or `oncall:<rotation>`)
    or Slack user IDs."""

    unacknowledged_after: Duration | None = None
    unresolved_after: Duration | None = None
    after: Duration | None = None                # the old name of unacknowledged_after
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

    @model_validator(mode="after")
    def _one_wait(self) -> EscalationStep:
        given = [k for k in ("unacknowledged_after", "after", "unresolved_after") if getattr(self, k) is not None]
        if not given:
            raise ValueError("say when the step falls due: `unacknowledged_after: 15m` (or its old name `after`) "
                             "or `unresolved_after: 1h`")
        if len(given) > 1:
            raise Problems([(given[1], f"a step has one wait; it already has `{given[0]}` (`after` is the old "
                             "name of `unacknowledged_after`): make another step for this one")])
        return self

    @property
    def wait(self) -> timedelta:
        """How long after the start the step falls due (business time under business hours)."""
        for wait in (self.unacknowledged_after, self.after, self.unresolved_after):
            if wait is not None:
                return wait
        return timedelta(0)

    @property
    def unresolved(self) -> bool:
        """True for an `unresolved_after` step: it applies until the incident is resolved, even once
        acknowledged (alerts never take it; see docs/alerts.md)."""
        return self.unresolved_after is not None

    @property
    def key(self) -> str:
        return "unresolved_after" if self.unresolved else "unacknowledged_after"


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$")


def _day_range(word: str) -> list[str]:
    """`mon` -> [mon]; `mon-fri` -> [mon … fri]; `fri-mon` wraps over the weekend. ValueError otherwise."""
    first, dash, last = word.strip().lower().partition("-")
    ends = [first.strip(), last.strip()] if dash else [first.strip()]
    for end in ends:
        if end not in DAYS:
            raise ValueError(f"{word!r} is not a day; {choices(DAYS, end)} (or a range like mon-fri)")
    i, j = DAYS.index(ends[0]), DAYS.index(ends[-1])
    return [DAYS[(i + k) % 7] for k in range((j - i) % 7 + 1)]


class BusinessHours(Strict):
    """When business time runs for a policy's steps: `hours` on `days` in `timezone`, except `holidays`.
    Outside them the steps' clocks stop (see bot.business_time: a window belongs to the day it opens on,
    `22:00-06:00` runs overnight, `00:00-24:00` is the whole day)."""

    days: tuple[str, ...] = DAYS[:5]
    hours: str = "09:00-17:00"
    timezone: Zone | None = None                 # default: the config's timezone
    holidays: tuple[date, ...] = ()

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: object) -> object:
        single = isinstance(value, str)          # `mon-fri`
        if isinstance(value, str):
            value = [value] if value.strip() else []
        if not isinstance(value, list | tuple):
            return value                         # pydantic says what it expected
        days: list[str] = []
        problems = []
        for i, item in enumerate(value):
            try:
                days += _day_range(str(item))
            except ValueError as exc:
                problems.append((f"[{i}]", str(exc)))
        if problems and single:
            raise ValueError(problems[0][1])
        if problems:
            raise Problems(problems)
        if not days:
            raise ValueError("no business days: name at least one (mon-fri)")
        return tuple(d for d in DAYS if d in days)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        opens, closes = _parse_hours(value)
        if opens == closes:
            raise ValueError(f"{value!r} opens and closes at the same time; for the whole day write 00:00-24:00")
        return value

    @field_validator("holidays", mode="before")
    @classmethod
    def _dates(cls, value: object) -> object:
        if not isinstance(value, list | tuple):
            return value
        problems = []
        for i, item in enumerate(value):
            if isinstance(item, date) and not isinstance(item, datetime):
                continue
            text = str(item).strip()
            try:
                if not _DATE.match(text):
                    raise ValueError(text)
                date.fromisoformat(text)
            except ValueError:
                problems.append((f"[{i}]", f"{text[:40]!r} is not a date: write YYYY-MM-DD, e.g. 2026-12-25"))
        if problems:
            raise Problems(problems)
        return value

    def calendar(self, default_zone: str) -> Calendar:
        opens, closes = _parse_hours(self.hours)
        return Calendar(zone=ZoneInfo(self.timezone or default_zone), days=frozenset(DAYS.index(d) for d in self.days),
                        opens=opens, closes=closes, holidays=frozenset(self.holidays))


def _parse_hours(value: str) -> tuple[time, time | None]:
    """`09:00-17:00` -> (09:00, 17:00); a close of `24:00` is None (midnight at the end of the day)."""
    match = _HOURS.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not opening hours: write HH:MM-HH:MM, e.g. 09:00-17:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"{value!r} has a time that does not exist: hours 00-23 (24:00 to close at midnight), "
                         "minutes 00-59")
    return time(h1, m1), None if h2 == 24 else time(h2, m2)


class EscalationPolicy(Strict):
    steps: tuple[EscalationStep, ...] = Field(min_length=1)
    business_hours: BusinessHours | None = None  # steps count only business time

    @field_validator("steps")
    @classmethod
    def _in_order(cls, value: tuple[EscalationStep, ...]) -> tuple[EscalationStep, ...]:
        waits = [s.wait for s in value]
        if waits != sorted(waits):
            raise ValueError("steps must be in order of their wait (`unacknowledged_after`/`after` and "
                             "`unresolved_after` together): they are numbered in that order")
        return value

    def calendar(self, default_zone: str) -> Calendar | None:
        return self.business_hours.calendar(default_zone) if self.business_hours is not None else None


class AlertSettings(Strict):
    sns: SnsSettings = SnsSettings()
    webhook: WebhookSettings = WebhookSettings()
    severity_map: dict[str, str] = {}            # source severity word -> P1..P4 (added to the defaults)
    default_severity: Severity = "P3"
    routes: tuple[Route, ...] = ()
    incident_severities: tuple[Severity, ...] = ("P1", "P2")   # these open an incident automatically
    channel_interval: PositiveDuration = timedelta(seconds=1)  # Slack allows about one message a second per channel
    escalation: dict[str, EscalationPolicy] = {}            # P1..P4 -> steps for alerts and incidents
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
