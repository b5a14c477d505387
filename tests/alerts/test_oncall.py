"""Who is on call, at any frozen time: weekly hand-overs in a zone with DST, and overrides."""
from datetime import UTC, datetime, timedelta

import pytest

from bot.alerts.oncall import Override, next_shift, on_call
from bot.config.alerts import Rotation

BERLIN = Rotation(name="primary", members=("U0ALICE", "U0BOB", "U0CAROL"), start=datetime(2026, 3, 16, 9, 0),
                  timezone="Europe/Berlin")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("at, who", [
    (utc(2026, 3, 10, 12, 0), "U0ALICE"),          # before the first hand-over: the first member
    (utc(2026, 3, 16, 8, 0), "U0ALICE"),           # 09:00 CET hand-over
    (utc(2026, 3, 23, 7, 59), "U0ALICE"),
    (utc(2026, 3, 23, 8, 0), "U0BOB"),
    (utc(2026, 3, 30, 6, 59), "U0BOB"),            # DST began on Sunday 29 March: 09:00 CEST is 07:00 UTC
    (utc(2026, 3, 30, 7, 0), "U0CAROL"),
    (utc(2026, 4, 6, 7, 0), "U0ALICE"),            # round again
    (utc(2026, 10, 26, 7, 59), "U0BOB"),           # DST ended on 25 October: 09:00 CET is 08:00 UTC again
    (utc(2026, 10, 26, 8, 0), "U0CAROL"),
])
def test_weekly_rotation_across_dst(at, who):
    assert on_call(BERLIN, [], at, default_tz="UTC").user_id == who


def test_next_and_hand_over_time():
    now = utc(2026, 3, 25, 12, 0)
    current = on_call(BERLIN, [], now, default_tz="UTC")
    upcoming = next_shift(BERLIN, [], now, default_tz="UTC")
    assert (current.user_id, current.ends_at) == ("U0BOB", utc(2026, 3, 30, 7, 0))
    assert (upcoming.user_id, upcoming.starts_at) == ("U0CAROL", utc(2026, 3, 30, 7, 0))


def test_override_wins_while_it_lasts_and_the_newest_wins():
    t = utc(2026, 3, 25, 12, 0)
    cover = [Override("U0DAVE", t, t + timedelta(hours=8), t),
             Override("U0ERIN", t + timedelta(hours=1), t + timedelta(hours=2), t + timedelta(hours=1))]
    assert on_call(BERLIN, cover, t + timedelta(minutes=30), default_tz="UTC").user_id == "U0DAVE"
    assert on_call(BERLIN, cover, t + timedelta(hours=1, minutes=30), default_tz="UTC").user_id == "U0ERIN"
    assert on_call(BERLIN, cover, t + timedelta(hours=8), default_tz="UTC").user_id == "U0BOB"
    assert next_shift(BERLIN, cover, t, default_tz="UTC").user_id == "U0BOB"


def test_oncall_command_and_override(make_runtime, run_ops, clock):
    rt = make_runtime({"timezone": "Europe/Berlin", "oncall": {"rotations": [
        {"name": "primary", "members": ["U0ALICE", "U0BOB"], "start": "2026-11-16 09:00"}]}})
    clock.now = utc(2026, 11, 23, 7, 59)                   # Monday 08:59 in Berlin: Alice's last minute
    reply = run_ops(rt, "oncall")
    assert "*On call now:* <@U0ALICE> until Mon 23 Nov 09:00 Europe/Berlin (in 1m)" in reply.text
    assert "*Next:* <@U0BOB>" in reply.text
    covered = run_ops(rt, "oncall override <@U0CAROL|carol> 2h", user="U0BOB")
    assert covered.outcome == "ok" and "<@U0CAROL> is on call for *primary*" in covered.text
    assert "*On call now:* <@U0CAROL> (override)" in run_ops(rt, "oncall").text
    clock.advance(hours=2)
    assert "*On call now:* <@U0BOB> until Mon 30 Nov 09:00" in run_ops(rt, "oncall").text


@pytest.mark.parametrize("text, expected", [
    ("oncall override", "Say who covers"),
    ("oncall override alice 2h", "is not a Slack user mention"),
    ("oncall override <@U0X> forever", "not a duration"),
    ("oncall override <@U0X> 90d", "between 15m and 31d"),
    ("oncall secondary", "There is no rotation `secondary`"),
])
def test_oncall_bad_input(make_runtime, run_ops, text, expected):
    rt = make_runtime({"oncall": {"rotations": [{"name": "primary", "members": ["U0A"], "start": "2026-01-05 09:00"}]}})
    reply = run_ops(rt, text)
    assert reply.ephemeral and expected in reply.text


def test_no_rotation_configured(make_runtime, run_ops):
    assert "oncall.rotations" in run_ops(make_runtime(), "oncall").text
