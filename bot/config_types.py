"""The building blocks of every config section: strict frozen models, durations, names."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


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
SERVICE_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _bounded(value: timedelta, *, low: timedelta, high: timedelta) -> timedelta:
    if not low <= value <= high:
        raise ValueError(f"must be between {low.total_seconds():g}s and {high.total_seconds():g}s")
    return value
