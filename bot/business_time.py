"""Business time: when a wait counted only in business hours ends. Pure: no clock, no config, no I/O.

A `Calendar` says when work happens: on `days` (0 is Monday) from `opens` to `closes`, wall-clock time in
`zone`, except on `holidays` (local dates). Each business day has one window, which belongs to the day it
opens on:

- `closes` after `opens` (09:00–17:00): the window ends the same day;
- `closes` at or before `opens` (22:00–06:00): it runs overnight and ends the next morning, so the window
  that opens on a Friday night is business time until Saturday 06:00, and a holiday removes the window
  that opens that day, not the night that ends on it;
- `closes` None (…–24:00): it ends at the next midnight; 00:00–24:00 is the whole day.

Times are wall-clock: 09:00 stays 09:00 across a DST change. A window is as long as the clock says it is,
so a 22:00–06:00 window is 7 real hours on the night the clocks go forward and 9 when they go back. A wall
time the clock skips that night is read with the offset before the change (02:30 on a spring-forward night
in Berlin is 03:30 summer time); one that happens twice is its first occurrence.

Every instant returned is an aware UTC datetime; arguments must be aware.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY = timedelta(days=1)
SEARCH_DAYS = 3700              # about ten years: a calendar with no window in that time is treated as broken


class NoBusinessHoursError(ValueError):
    """The calendar has no business hours within `SEARCH_DAYS` of the instant asked about."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Calendar:
    zone: ZoneInfo
    days: frozenset[int] = frozenset(range(5))         # 0 = Monday … 6 = Sunday
    opens: time = time(9)
    closes: time | None = time(17)                     # None: midnight at the end of the day (24:00)
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError("business days are a non-empty set of 0 (Monday) … 6 (Sunday)")
        if self.opens.tzinfo is not None or (self.closes is not None and self.closes.tzinfo is not None):
            raise ValueError("opening hours are wall-clock times without a zone")

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The business window that opens on local `day` (UTC instants), or None on a day off or a holiday."""
        if day.weekday() not in self.days or day in self.holidays:
            return None
        overnight = self.closes is None or self.closes <= self.opens
        start = _instant(day, self.opens, self.zone)
        end = _instant(day + DAY if overnight else day, self.closes or time(0), self.zone)
        return (start, end) if end > start else None


def windows(calendar: Calendar, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The business windows that end after `since`, in order (the first may have opened before it)."""
    _aware(since)
    day = since.astimezone(calendar.zone).date() - DAY        # yesterday's window may run overnight into today
    for _ in range(SEARCH_DAYS):
        window = calendar.window(day)
        if window is not None and window[1] > since:
            yield window
        day += DAY
    raise NoBusinessHoursError(f"no business hours within {SEARCH_DAYS} days after {since:%Y-%m-%d}")


def add(calendar: Calendar, start: datetime, wait: timedelta) -> datetime:
    """The instant `wait` of business time after `start`. A wait of 0 ends at the first business instant at or
    after `start` (at once during business hours, else when they next open). A wait that fills a window exactly
    ends at its close."""
    if wait < timedelta(0):
        raise ValueError("a wait is never negative")
    left = wait
    for opens, closes in windows(calendar, start):
        opens = max(opens, start)
        if not left:
            return opens
        if closes - opens >= left:
            return opens + left
        left -= closes - opens
    raise AssertionError("unreachable: windows() raises when it runs out")


def elapsed(calendar: Calendar, since: datetime, until: datetime) -> timedelta:
    """How much business time lies between `since` and `until` (nothing when `until` is not after `since`)."""
    _aware(until)
    total = timedelta(0)
    if until <= since:
        return total
    for opens, closes in windows(calendar, since):
        if opens >= until:
            break
        total += min(closes, until) - max(opens, since)
    return total


def is_open(calendar: Calendar, at: datetime) -> bool:
    """Whether `at` lies in business hours (a window includes its opening instant, not its close)."""
    opens, _ = next(windows(calendar, at))
    return opens <= at


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("business time needs aware datetimes")
