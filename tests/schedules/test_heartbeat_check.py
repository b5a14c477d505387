"""The `heartbeat` check kind: the last beat's age against `within`, ok / warn / fail with a reason a tired
person reads at a glance, from the bot's own database (both databases; the clock is injected)."""
import pytest

from bot.alerts.heartbeats import Heartbeats
from schedules.checklists import get_run, run_checklist
from tests.alerts.workers import escalator

CONFIG = {
    "alerts": {"webhook": {"token_env": "HOOK_TOKEN"}},
    "heartbeats": [{"name": "weather-monitor", "within": "26h"}, {"name": "ml-training", "within": "8d"}],
    "checklists": {"morning": {"checks": [
        {"check": "heartbeat", "heartbeat": "weather-monitor"},
        {"check": "heartbeat", "heartbeat": "weather-monitor", "warn_pct": 90},
        {"check": "heartbeat", "heartbeat": "ml-training"}]}},
}


def run(rt, clock):
    run_id = run_checklist(rt, "morning", scheduled_for=clock.now, trigger="manual")
    return get_run(rt, run_id)


@pytest.fixture
def rt(make_runtime):
    return make_runtime(CONFIG)


@pytest.mark.parametrize("ago, results, reason", [
    ({"hours": 3}, ["ok", "ok"], None),
    ({"hours": 21, "minutes": 30}, ["warn", "ok"],        # 83% of 26h: past 80%, not past 90%
     "heartbeat: weather-monitor last beat 21h 30m ago (expected every 26h): past 80% of it"),
    ({"hours": 24}, ["warn", "warn"],
     "heartbeat: weather-monitor last beat 24h ago (expected every 26h): past 80% of it"),
    ({"hours": 26}, ["fail", "fail"], "heartbeat: weather-monitor last beat 26h ago (expected every 26h)"),
    ({"hours": 27}, ["fail", "fail"], "heartbeat: weather-monitor last beat 27h ago (expected every 26h)"),
])
def test_the_last_beats_age_decides(rt, clock, ago, results, reason):
    Heartbeats(rt.sessions, rt.clock, rt.config).beat("weather-monitor", note="1203 rows")
    clock.advance(**ago)
    items = run(rt, clock).items
    assert [i.result for i in items[:2]] == results
    assert items[0].reason == reason
    assert "last beat=2026-11-23 03:00 UTC, within=26h, note=1203 rows" in items[0].details
    assert items[0].label == "heartbeat of weather-monitor"


def test_no_beat_yet_warns_and_none_in_a_whole_within_fails(rt, clock):
    items = run(rt, clock).items
    assert (items[2].result, items[2].reason) == ("warn", "heartbeat: ml-training has sent no beat yet "
                                                          "(expected every 8d)")
    escalator(rt).run_once()                                   # the bot begins watching it
    clock.advance(days=7)
    assert run(rt, clock).items[2].reason == ("heartbeat: ml-training has sent no beat yet (watched for 7d; "
                                              "expected every 8d)")
    clock.advance(days=1)
    items = run(rt, clock).items
    assert (items[2].result, items[2].reason) == ("fail", "heartbeat: ml-training has sent no beat in the 8d opsbot "
                                                          "has watched it (expected every 8d)")


def test_the_report_says_it_plainly(rt, run_ops, clock):
    Heartbeats(rt.sessions, rt.clock, rt.config).beat("weather-monitor")
    clock.advance(hours=27)
    reply = run_ops(rt, "checklist run morning")
    assert "weather-monitor last beat 27h ago (expected every 26h)" in reply.blocks[1].text
