"""Crontab lines mean what they mean in crontab, although APScheduler 3 counts weekdays from Monday."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, parse_config
from bot.cron import cron_trigger, weekdays

BERLIN = ZoneInfo("Europe/Berlin")
MON = datetime(2026, 11, 23, 0, 0, tzinfo=BERLIN)          # a Monday


def fires(expr: str, n: int = 7) -> list[str]:
    trigger, out, prev = cron_trigger(expr, BERLIN), [], None
    now = MON
    for _ in range(n):
        prev = trigger.get_next_fire_time(prev, now)
        out.append(f"{prev:%a %d %H:%M}")
        now = prev
    return out


@pytest.mark.parametrize(("field", "aps"), [
    ("0", "sun"), ("7", "sun"), ("1-5", "mon,tue,wed,thu,fri"), ("*/2", "sun,tue,thu,sat"),
    ("1/3", "mon,thu"), ("0,6", "sun,sat"), ("sun", "sun"), ("mon-fri", "mon-fri"), ("*", "*"), ("5-7", "fri,sat,sun"),
])
def test_weekday_numbers_are_crontabs(field, aps):
    assert weekdays(field) == aps


def test_sunday_zero_runs_on_sunday_and_weekdays_skip_the_weekend():
    assert fires("0 2 * * 0", 2) == ["Sun 29 02:00", "Sun 06 02:00"]
    assert fires("30 9 * * 1-5", 6) == ["Mon 23 09:30", "Tue 24 09:30", "Wed 25 09:30", "Thu 26 09:30",
                                        "Fri 27 09:30", "Mon 30 09:30"]


def test_first_sunday_of_the_month_needs_both_day_and_weekday():
    assert fires("0 1 1-7 * sun", 3) == ["Sun 06 01:00", "Sun 03 01:00", "Sun 07 01:00"]     # Dec, Jan, Feb


@pytest.mark.parametrize(("expr", "problem"), [
    ("0 9 * *", "expected 5 fields"), ("0 9 * * 8", "weekday '8'"), ("0 9 * * 5-1", "runs backwards"),
    ("61 9 * * *", "minute"),
])
def test_a_bad_schedule_is_a_config_error_with_the_reason(expr, problem):
    with pytest.raises(ConfigError) as err:
        parse_config({"checklists": {"m": {"schedule": expr, "checks": [{"check": "manual", "text": "x"}]}}})
    assert "checklists.m.schedule: not a cron expression" in str(err.value) and problem in str(err.value)
