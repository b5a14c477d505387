"""The value types every config section is built from: strict frozen models, durations, names, zones, cron."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from bot.cron import cron_trigger

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SERVICE_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
SEVERITY = r"^P[1-4]$"


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


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


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


Zone = Annotated[str, AfterValidator(known_zone)]
Cron = Annotated[str, AfterValidator(_cron)]
