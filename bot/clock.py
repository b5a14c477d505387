"""Time for the whole bot: aware UTC datetimes only, read through an injectable clock."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current instant as an aware UTC datetime (the default `Clock`)."""
    return datetime.now(UTC)


def humanize(delta: timedelta) -> str:
    """A short duration for people: '42s', '7m', '3h 5m', '2d 4h'."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def duration(delta: timedelta) -> str:
    """'45s' and '4m 30s' under an hour (MTTA lives there); above, `humanize` to the minute: '1h 20m', '2d 4h'."""
    seconds = max(round(delta.total_seconds()), 0)
    if seconds >= 3600:
        return humanize(timedelta(minutes=round(seconds / 60)))
    minutes, seconds = divmod(seconds, 60)
    if not minutes:
        return f"{seconds}s"
    return f"{minutes}m {seconds}s" if seconds else f"{minutes}m"
