"""Who is on call: rotation arithmetic in local wall-clock time, plus overrides.

Pure functions of (config, rows, at): test them with plain datetimes."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.config.alerts import Rotation


@dataclass(frozen=True, slots=True)
class Override:
    user_id: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Shift:
    user_id: str
    starts_at: datetime          # aware UTC
    ends_at: datetime            # aware UTC (the next hand-over, or the override's end)
    override: bool = False


def _local(naive: datetime, zone: ZoneInfo) -> datetime:
    """A local wall-clock time as an aware UTC instant (a time skipped by DST moves forward, as clocks do)."""
    return naive.replace(tzinfo=zone).astimezone(UTC)


def rotation_shift(rotation: Rotation, at: datetime, *, default_tz: str) -> Shift:
    """The regular shift covering `at` (before the first hand-over, the first member is on call)."""
    zone = ZoneInfo(rotation.timezone or default_tz)
    wall = at.astimezone(zone).replace(tzinfo=None)
    k = max((wall - rotation.start) // rotation.every, 0)
    begins = rotation.start + k * rotation.every
    user = rotation.members[k % len(rotation.members)]
    return Shift(user, _local(begins, zone), _local(begins + rotation.every, zone))


def on_call(rotation: Rotation, overrides: Sequence[Override], at: datetime, *, default_tz: str) -> Shift:
    """Who is on call at `at`: the newest override covering it, else the rotation's member."""
    regular = rotation_shift(rotation, at, default_tz=default_tz)
    covering = [o for o in overrides if o.starts_at <= at < o.ends_at]
    if not covering:
        return regular
    newest = max(covering, key=lambda o: o.created_at)
    return Shift(newest.user_id, newest.starts_at, newest.ends_at, override=True)


def next_shift(rotation: Rotation, overrides: Sequence[Override], at: datetime, *, default_tz: str) -> Shift:
    """Who takes over when the current shift (regular or override) ends."""
    return on_call(rotation, overrides, on_call(rotation, overrides, at, default_tz=default_tz).ends_at,
                   default_tz=default_tz)
