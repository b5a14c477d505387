"""Scheduled maintenance windows: a cron line, a duration and a time zone; which services they cover."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, model_validator

from bot.config.values import SERVICE_NAME, Cron, Duration, Problems, Strict, Zone, bounded, choices
from bot.cron import cron_trigger

MIN_DURATION = timedelta(minutes=1)
MAX_DURATION = timedelta(days=7)
REASON_MAX = 300
ServiceName = Annotated[str, Field(pattern=SERVICE_NAME)]
WindowDuration = Annotated[Duration, AfterValidator(lambda v: bounded(v, low=MIN_DURATION, high=MAX_DURATION))]


class ScheduledWindow(Strict):
    """A window that opens at each cron fire time (in `timezone`) and closes `duration` later (elapsed time,
    so a window across a DST change still lasts exactly `duration`)."""

    name: str | None = Field(default=None, pattern=SERVICE_NAME)
    services: tuple[ServiceName, ...] | Literal["all"] = Field(min_length=1)
    schedule: Cron
    duration: WindowDuration
    timezone: Zone | None = None                 # default: the top-level timezone
    reason: str | None = Field(default=None, min_length=1, max_length=REASON_MAX)
    channel: str | None = None                   # where it is announced; default: channels.alerts

    @model_validator(mode="after")
    def _ends_before_the_next_opens(self) -> ScheduledWindow:
        """A window that would still be open when its cron fires again would never close: say so now."""
        trigger = cron_trigger(self.schedule, ZoneInfo(self.timezone or "UTC"))
        fire = trigger.get_next_fire_time(None, datetime(2026, 1, 1, tzinfo=UTC))
        for _ in range(12):
            following = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1)) if fire else None
            if fire is None or following is None:
                break
            if following - fire < self.duration:
                raise ValueError(f"the window lasts {self.duration} but the schedule opens it again after "
                                 f"{following - fire}: make it shorter or the schedule sparser")
            fire = following
        return self

    @property
    def all_services(self) -> bool:
        return self.services == "all"


def validate_window_services(windows: tuple[ScheduledWindow, ...], services: tuple[str, ...]) -> None:
    """Every service a window names is one of `services` (a typo would silence nothing)."""
    problems = [(f"maintenance[{i}].services", f"no service named {name!r}; {choices(services, name)}")
                for i, window in enumerate(windows) if not window.all_services
                for name in window.services if name not in services]
    if problems:
        raise Problems(problems)
