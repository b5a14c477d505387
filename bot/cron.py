"""Cron expressions as people write them in crontab(5), turned into APScheduler 3 triggers.

Two differences from crontab are handled or stated here:

- Weekday numbers. APScheduler 3 counts Monday as 0; crontab counts Sunday as 0 (and 7). APScheduler fixed
  this only in 4.x (its issue #286). Numeric weekdays are translated to names here, so `0 2 * * 0` and
  `0 9 * * 1-5` mean Sunday and Monday–Friday, as in every crontab. Names (`sun`, `mon-fri`) pass through.
- Day and weekday together. All five fields must match (APScheduler's rule): `0 1 1-7 * sun` is the first
  Sunday of the month. crontab would instead run it on days 1–7 *and* on every Sunday.
"""
from __future__ import annotations

from datetime import tzinfo
from typing import Any

NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _day(token: str) -> int:
    token = token.strip().lower()
    if token in NAMES:
        return NAMES.index(token)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    raise ValueError(f"weekday {token!r}: use 0-7 (0 and 7 are Sunday) or sun, mon, …, sat")


def weekdays(field: str) -> str:
    """A crontab weekday field in APScheduler's terms: numbers (and stepped ranges) become day names."""
    out: list[str] = []
    for part in field.split(","):
        base, _, step = part.partition("/")
        if not step and not any(ch.isdigit() for ch in base):
            out.append(part)                      # `*`, `sun`, `mon-fri`: the same in both
            continue
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            lo, hi = base.split("-", 1)
            first, last = _day(lo), _day(hi)
        else:
            first = _day(base)
            last = 6 if step else first           # crontab: `1/2` is 1-6/2
        if last < first:
            raise ValueError(f"weekday range {base!r} runs backwards")
        if step and not (step.isdigit() and int(step) > 0):
            raise ValueError(f"weekday step {step!r} is not a positive number")
        out.extend(NAMES[d % 7] for d in range(first, last + 1, int(step or 1)))
    return ",".join(dict.fromkeys(out))


def cron_trigger(expr: str, timezone: tzinfo | str | None = None) -> Any:
    """The APScheduler CronTrigger for a 5-field crontab line; ValueError (with the reason) if it is not one."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    named = dict(zip(("minute", "hour", "day", "month", "day_of_week"), fields, strict=True))
    named["day_of_week"] = weekdays(named["day_of_week"])
    for field, value in named.items():       # name the field that is wrong; APScheduler's message does not
        try:
            CronTrigger(**{field: value})
        except ValueError as exc:
            raise ValueError(f"{field.replace('_', ' ')} {value!r}: {exc}") from None
    return CronTrigger(**named, timezone=timezone)
