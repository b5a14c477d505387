"""The value types every config section is built from: strict frozen models, durations, names, zones, cron."""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from bot.cron import cron_trigger

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SERVICE_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
SEVERITY = r"^P[1-4]$"
HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$"       # an HTTP header name (RFC 9110 token)
SEVERITIES = ("P1", "P2", "P3", "P4")
MAX_APPROVALS = 3
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


class Problems(ValueError):
    """Problems a section's own check found, each at a key path relative to that section (`commands.incdent`).

    `parse_config` joins each path to where the section sits, so every line names its full key path.
    """

    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        self.items = list(items)
        super().__init__("; ".join(f"{path}: {message}" for path, message in self.items))


def choices(valid: Iterable[str], given: str | None = None) -> str:
    """`valid: a, b, c` (and `did you mean `b`?` when `given` is close to one of them)."""
    names = list(valid)
    text = "valid: " + (", ".join(names) if names else "none defined")
    close = difflib.get_close_matches(given, names, n=1, cutoff=0.6) if given else []
    return text + (f"; did you mean `{close[0]}`?" if close else "")


def parse_duration(value: Any) -> Any:
    """Accept '3s', '500ms', '5m', '26h', '1d' (plain numbers are seconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"not a duration: {value!r} (use e.g. 3s, 5m, 26h, 1d)")
        number, unit = match.groups()
        return timedelta(seconds=float(number) * _UNIT_SECONDS[unit])
    return value


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("a duration must not be negative")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_not_negative)]
PositiveDuration = Annotated[Duration, AfterValidator(_positive)]     # a timeout, an age, an interval
# How many different people must confirm a destructive operation: 1 is one click, 2 is four-eyes.
Approvals = Annotated[int, Field(ge=1, le=MAX_APPROVALS, strict=True)]


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def bounded(value: timedelta, *, low: timedelta, high: timedelta) -> timedelta:
    if not low <= value <= high:
        raise ValueError(f"must be between {low.total_seconds():g}s and {high.total_seconds():g}s")
    return value


def known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from None
    return value


def _cron(value: str) -> str:
    try:
        cron_trigger(value)
    except ValueError as exc:
        raise ValueError(f"not a cron expression ({exc})") from None
    return value


def slack_user_id(value: str, *, or_else: str = "") -> str:
    """`value` when it is a Slack user ID; else a ValueError saying what to write (`or_else`: other choices)."""
    if not _SLACK_USER_ID.match(value):
        hint = " (a display name?)" if value.startswith("@") or value.lower() == value else ""
        raise ValueError(f"{value!r} is not {or_else}a Slack user ID{hint}: write the member ID, U or W then "
                         "capital letters and digits, e.g. U0123ABCD (profile, then ⋯, then Copy member ID)")
    return value


def _severity(value: str) -> str:
    if value not in SEVERITIES:
        raise ValueError(f"{value!r} is not a severity; valid: {', '.join(SEVERITIES)}")
    return value


Zone = Annotated[str, AfterValidator(known_zone)]
UserId = Annotated[str, AfterValidator(slack_user_id)]
Severity = Annotated[str, AfterValidator(_severity)]
Cron = Annotated[str, AfterValidator(_cron)]
