"""Maintenance windows as values: a window, what is covered at a moment, the scheduled windows of the config
(cron + duration + zone) and when each is open, and the words people read about them. Pure: no database.

A scheduled window is open at `now` when a cron fire time `fire` (in the window's zone) has
`fire <= now < fire + duration`. The duration is elapsed time, so across a DST change the local end time
moves and the length does not.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import humanize
from bot.config import OpsConfig
from bot.config.maintenance import ScheduledWindow
from bot.cron import cron_trigger
from bot.reply import escape

SCHEDULE = "schedule"                   # started_by of a scheduled occurrence
BOT = "opsbot"                          # closed_by of a window whose time ran out
_TINY = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Window:
    id: int | None                      # None: a scheduled occurrence computed, not stored yet
    key: str
    services: tuple[str, ...]           # empty: every service (and alerts that name none)
    reason: str | None
    name: str | None                    # a scheduled window's name
    channel: str
    started_by: str
    starts_at: datetime
    ends_at: datetime
    closed_at: datetime | None = None
    closed_by: str | None = None
    held: int | None = None
    firing: int | None = None

    @property
    def everything(self) -> bool:
        return not self.services

    @property
    def scheduled(self) -> bool:
        return self.started_by == SCHEDULE

    @property
    def label(self) -> str:
        return "all services" if self.everything else ", ".join(self.services)

    def covers(self, service: str | None) -> bool:
        return self.everything or (service is not None and service in self.services)


@dataclass(frozen=True, slots=True)
class Coverage:
    """The windows open at one moment."""

    windows: tuple[Window, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.windows)

    def covers(self, service: str | None) -> bool:
        return any(w.covers(service) for w in self.windows)

    def window(self, service: str | None) -> Window | None:
        """The covering window that ends last, or None."""
        found = [w for w in self.windows if w.covers(service)]
        return max(found, key=lambda w: w.ends_at) if found else None


@lru_cache(maxsize=256)
def _trigger(schedule: str, zone: str) -> Any:
    return cron_trigger(schedule, ZoneInfo(zone))


class Calendar:
    """The scheduled windows of the config, in their zones, and where windows are announced."""

    def __init__(self, specs: Sequence[ScheduledWindow] = (), *, timezone: str = "UTC",
                 channel: str = "#alerts") -> None:
        self.specs, self.timezone, self.channel = tuple(specs), timezone, channel

    @classmethod
    def of(cls, config: OpsConfig) -> Calendar:
        return cls(config.maintenance, timezone=config.timezone, channel=config.channels.alerts)

    def zone(self, spec: ScheduledWindow) -> str:
        return spec.timezone or self.timezone

    def open_at(self, now: datetime) -> list[Window]:
        """The scheduled occurrences open at `now` (computed; stored or not)."""
        found = []
        for spec in self.specs:
            fire = _trigger(spec.schedule, self.zone(spec)).get_next_fire_time(None, now - spec.duration + _TINY)
            if fire is not None and fire <= now:
                start = fire.astimezone(UTC)
                found.append(Window(
                    id=None, key=f"sched:{_digest(spec)}:{start:%Y%m%dT%H%M%SZ}",
                    services=() if spec.all_services else tuple(spec.services), reason=spec.reason, name=spec.name,
                    channel=spec.channel or self.channel, started_by=SCHEDULE, starts_at=start,
                    ends_at=start + spec.duration))
        return found

    def next_start(self, spec: ScheduledWindow, after: datetime) -> datetime | None:
        fire = _trigger(spec.schedule, self.zone(spec)).get_next_fire_time(None, after + _TINY)
        return None if fire is None else fire.astimezone(UTC)

    def zone_of(self, window: Window) -> str:
        """The zone a window's times are shown in: its schedule's, else the config's."""
        if window.scheduled:
            digest = window.key.split(":")[1]
            for spec in self.specs:
                if _digest(spec) == digest:
                    return self.zone(spec)
        return self.timezone


def _digest(spec: ScheduledWindow) -> str:
    what = [spec.services, spec.schedule, spec.duration.total_seconds(), spec.timezone]
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:10]




def when(at: datetime, zone: str) -> str:
    local = at.astimezone(ZoneInfo(zone))
    return f"{local:%a %d %b %H:%M} {local.tzname() or zone}"


def what(window: Window) -> str:
    kind = f"scheduled window `{window.name}`" if window.scheduled and window.name else (
        "a scheduled window" if window.scheduled else "the window")
    return f"{kind} #{window.id}" if window.id else kind


def end_target(window: Window, asked: tuple[str, ...]) -> str:
    if window.everything:
        return "all"
    return next((s for s in asked if s in window.services), window.services[0])


def start_text(window: Window, zone: str) -> str:
    """The announcement of a window that opened."""
    who = "on schedule" if window.scheduled else f"by <@{window.started_by}>"
    reason = f" — {escape(window.reason)}" if window.reason else ""
    end_hint = "all" if window.everything else window.services[0]
    return (f":construction: *Maintenance started* on *{escape(window.label)}*{reason}\n"
            f"Until {when(window.ends_at, zone)} ({humanize(window.ends_at - window.starts_at)}), started {who}. "
            "Its alerts are stored but not posted, and their escalation pauses; one summary comes at the end. "
            f"End it early: `/ops maintenance end {end_hint}`.")


def end_text(window: Window, *, by: str) -> str:
    """The one summary of a window that closed: how it ended, what it held, what is still firing."""
    took = humanize(window.ends_at - window.starts_at)
    how = f"after {took}, as planned" if by == BOT else f"early by <@{by}>, after {took}"
    reason = f" — {escape(window.reason)}" if window.reason else ""
    held, firing = window.held or 0, window.firing or 0
    if not held:
        tally = "No alerts came in during the window."
    else:
        alerts = "1 alert" if held == 1 else f"{held} alerts"
        tally = (f"{alerts} during the window; " + ("none still firing." if not firing else
                 f"{firing} still firing: {'its card follows' if firing == 1 else 'their cards follow'}."))
    return f":white_check_mark: *Maintenance ended* on *{escape(window.label)}*{reason} ({how}).\n{tally}"
