"""Business-time arithmetic: weekends, nights, holidays, overnight hours and DST, checked against instants
worked out by hand (local wall-clock times, converted with the zone)."""
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.business_time import Calendar, NoBusinessHoursError, add, elapsed, is_open, windows

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
OFFICE = Calendar(zone=BERLIN)                                    # mon–fri 09:00–17:00
H = timedelta(hours=1)
M = timedelta(minutes=1)


def local(*args: int, zone: ZoneInfo = BERLIN) -> datetime:
    """A wall-clock time in `zone`, as the UTC instant the functions answer with."""
    return datetime(*args, tzinfo=zone).astimezone(UTC)


# 2026-11-20 is a Friday; 2026-11-21/22 the weekend; 2026-11-23 a Monday.
@pytest.mark.parametrize(("start", "wait", "due"), [
    (local(2026, 11, 20, 16, 30), H, local(2026, 11, 23, 9, 30)),            # Friday afternoon -> Monday
    (local(2026, 11, 21, 11, 0), H, local(2026, 11, 23, 10, 0)),             # Saturday -> Monday 10:00
    (local(2026, 11, 22, 23, 59), H, local(2026, 11, 23, 10, 0)),            # Sunday night
    (local(2026, 11, 24, 3, 0), H, local(2026, 11, 24, 10, 0)),              # Tuesday night -> that morning
    (local(2026, 11, 24, 19, 0), H, local(2026, 11, 25, 10, 0)),             # after hours -> next morning
    (local(2026, 11, 24, 10, 15), H, local(2026, 11, 24, 11, 15)),           # within hours: plain
    (local(2026, 11, 24, 16, 0), H, local(2026, 11, 24, 17, 0)),             # fills the day exactly: at close
    (local(2026, 11, 24, 16, 59), 2 * M, local(2026, 11, 25, 9, 1)),         # a minute each side of the night
    (local(2026, 11, 23, 9, 0), 20 * H, local(2026, 11, 25, 13, 0)),         # 8h + 8h + 4h
    (local(2026, 11, 20, 9, 0), 40 * H, local(2026, 11, 26, 17, 0)),         # a working week spans a weekend
    (local(2026, 11, 24, 17, 0), H, local(2026, 11, 25, 10, 0)),             # raised at the close: counts tomorrow
])
def test_steps_count_only_business_hours(start, wait, due):
    assert add(OFFICE, start, wait) == due
    assert elapsed(OFFICE, start, due) == wait


@pytest.mark.parametrize(("start", "due"), [
    (local(2026, 11, 21, 3, 0), local(2026, 11, 23, 9, 0)),                  # a weekend: when hours open
    (local(2026, 11, 24, 7, 0), local(2026, 11, 24, 9, 0)),
    (local(2026, 11, 24, 12, 34), local(2026, 11, 24, 12, 34)),              # during hours: at once
    (local(2026, 11, 24, 17, 0), local(2026, 11, 25, 9, 0)),                 # the close is not business time
])
def test_a_wait_of_nothing_waits_for_business_hours(start, due):
    assert add(OFFICE, start, timedelta(0)) == due


def test_holidays_are_skipped():
    # 2026-12-24 Thursday, 25 Friday and 28 Monday are holidays here.
    cal = Calendar(zone=BERLIN, holidays=frozenset({date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 28)}))
    assert add(cal, local(2026, 12, 23, 16, 30), H) == local(2026, 12, 29, 9, 30)
    assert add(cal, local(2026, 12, 24, 10, 0), timedelta(0)) == local(2026, 12, 29, 9, 0)
    assert elapsed(cal, local(2026, 12, 23, 0, 0), local(2026, 12, 30, 0, 0)) == 16 * H      # the 23rd and 29th
    assert not is_open(cal, local(2026, 12, 24, 11, 0)) and is_open(cal, local(2026, 12, 29, 11, 0))


def test_the_office_clock_keeps_to_wall_time_across_dst():
    # Berlin goes to summer time on Sunday 2026-03-29 and back on Sunday 2026-10-25.
    spring, autumn = local(2026, 3, 27, 16, 30), local(2026, 10, 23, 16, 30)
    assert add(OFFICE, spring, H) == local(2026, 3, 30, 9, 30) == datetime(2026, 3, 30, 7, 30, tzinfo=UTC)
    assert add(OFFICE, autumn, H) == local(2026, 10, 26, 9, 30) == datetime(2026, 10, 26, 8, 30, tzinfo=UTC)
    assert spring == datetime(2026, 3, 27, 15, 30, tzinfo=UTC)                 # CET before, CEST after
    # New York changes two weeks earlier (2026-03-08): the same rule in its own zone.
    ny = Calendar(zone=NEW_YORK)
    assert add(ny, local(2026, 3, 6, 16, 30, zone=NEW_YORK), H) == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)


def test_overnight_hours_run_into_the_next_day_and_belong_to_the_day_they_open():
    nights = Calendar(zone=BERLIN, opens=time(22), closes=time(6))                 # mon–fri nights
    assert add(nights, local(2026, 11, 20, 23, 0), 2 * H) == local(2026, 11, 21, 1, 0)     # Friday night
    assert add(nights, local(2026, 11, 21, 12, 0), H) == local(2026, 11, 23, 23, 0)       # Saturday -> Monday
    assert add(nights, local(2026, 11, 23, 5, 0), H) == local(2026, 11, 23, 23, 0)        # Sunday night is off
    assert add(nights, local(2026, 11, 24, 5, 30), H) == local(2026, 11, 24, 22, 30)      # Monday's night ends 6:00
    assert is_open(nights, local(2026, 11, 24, 2, 0)) and not is_open(nights, local(2026, 11, 24, 12, 0))
    on_holiday = Calendar(zone=BERLIN, opens=time(22), closes=time(6), holidays=frozenset({date(2026, 11, 24)}))
    assert not is_open(on_holiday, local(2026, 11, 24, 23, 0))                   # the night that opens on it
    assert is_open(on_holiday, local(2026, 11, 24, 2, 0))                        # the night before still counts


def test_an_overnight_window_is_as_long_as_the_clock_says_on_a_dst_night():
    nights = Calendar(zone=BERLIN, days=frozenset(range(7)), opens=time(22), closes=time(6))
    [spring] = _first(nights, local(2026, 3, 28, 12, 0), 1)
    [autumn] = _first(nights, local(2026, 10, 24, 12, 0), 1)
    assert spring[1] - spring[0] == 7 * H and autumn[1] - autumn[0] == 9 * H
    assert add(nights, local(2026, 3, 28, 22, 0), 5 * H) == local(2026, 3, 29, 4, 0)     # 22:00 + 5h real = 04:00
    assert add(nights, local(2026, 10, 24, 22, 0), 5 * H) == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # 02:00 CET


def test_a_skipped_wall_time_is_read_with_the_offset_before_the_change():
    early = Calendar(zone=BERLIN, days=frozenset(range(7)), opens=time(2, 30), closes=time(8))
    opens, _ = next(windows(early, local(2026, 3, 29, 0, 0)))
    assert opens == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)                      # 03:30 summer time


def test_the_whole_day_every_day_is_plain_time():
    always = Calendar(zone=BERLIN, days=frozenset(range(7)), opens=time(0), closes=None)
    for start in (local(2026, 3, 28, 23, 30), local(2026, 10, 25, 1, 0), local(2026, 11, 24, 12, 0)):
        assert add(always, start, 50 * H) == start + 50 * H
        assert is_open(always, start)


def test_midnight_close_and_a_custom_week():
    weekend = Calendar(zone=BERLIN, days=frozenset({5, 6}), opens=time(10), closes=None)   # sat–sun 10:00–24:00
    assert add(weekend, local(2026, 11, 20, 12, 0), 15 * H) == local(2026, 11, 22, 11, 0)


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK, ZoneInfo("Australia/Lord_Howe")])   # Lord Howe: 30-minute DST
def test_elapsed_undoes_add_from_any_start(zone):
    cal = Calendar(zone=zone, opens=time(8, 30), closes=time(18), holidays=frozenset({date(2026, 4, 3)}))
    nights = Calendar(zone=zone, days=frozenset({0, 2, 4, 6}), opens=time(21), closes=time(7))
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for k in range(0, 24 * 45, 7):                                    # every 7 hours over six weeks, both DSTs
        at = start + k * H + (k % 60) * M
        for wait in (timedelta(0), 17 * M, 3 * H, 9 * H + 30 * M, 50 * H):
            for c in (cal, nights):
                due = add(c, at, wait)
                assert due >= at and elapsed(c, at, due) == wait
                if wait:
                    assert elapsed(c, at, due - M) < wait                    # and not a minute later than needed
                # it ends in business hours: at once when open, else at the end of a stretch of them
                assert is_open(c, due) if not wait else is_open(c, due - timedelta(microseconds=1))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="aware"):
        add(OFFICE, datetime(2026, 11, 24, 10, 0), H)
    with pytest.raises(ValueError, match="negative"):
        add(OFFICE, local(2026, 11, 24, 10, 0), -H)
    with pytest.raises(ValueError, match="non-empty"):
        Calendar(zone=BERLIN, days=frozenset())
    mondays_off = frozenset(date(2026, 11, 23) + timedelta(weeks=n) for n in range(600))
    with pytest.raises(NoBusinessHoursError):
        add(Calendar(zone=BERLIN, days=frozenset({0}), holidays=mondays_off), local(2026, 11, 20, 9, 0), H)


def test_elapsed_of_an_empty_or_backwards_span_is_nothing():
    assert elapsed(OFFICE, local(2026, 11, 24, 12, 0), local(2026, 11, 24, 11, 0)) == timedelta(0)
    assert elapsed(OFFICE, local(2026, 11, 21, 0, 0), local(2026, 11, 22, 23, 0)) == timedelta(0)   # a weekend


def _first(cal, since, n):
    out = []
    for window in windows(cal, since):
        out.append(window)
        if len(out) == n:
            return out
    return out
