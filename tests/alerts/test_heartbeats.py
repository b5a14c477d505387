"""Heartbeats, a dead-man's switch: a silence past `within` fires one alert through the alert pipeline (card,
routes, incident), once across replicas, and the next beat resolves it. Both databases; the clock is injected."""
import json
import threading

import pytest
from sqlalchemy import select

from bot.alerts.heartbeats import Heartbeats
from bot.config import ConfigError, parse_config
from bot.storage.models import Alert, Heartbeat, Incident
from tests.alerts.workers import escalator, outbox
from tests.waiting import wait_until

TOKEN_ENV = {"secret": "HB_TOKEN"}
WM = "hb:weather-monitor"
CONFIG = {
    "channels": {"alerts": "C0ALERTS"},
    "services": [{"name": "weather-monitor"}],
    "alerts": {"routes": [{"match": {"source": "heartbeat", "severity": "P2"}, "channel": "C0PAGES"}]},
    "heartbeats": [
        {"name": "weather-monitor", "within": "26h", "severity": "P2", "service": "weather-monitor",
         "token": TOKEN_ENV},
        {"name": "ml-training", "within": "1d", "route": "C0ML", "token": TOKEN_ENV},
    ],
}


def alerts(rt, key=None):
    with rt.sessions() as s:
        return [a for a in s.scalars(select(Alert).order_by(Alert.id)) if key in (None, a.dedup_key)]


def deliver(rt):
    box = outbox(rt, interval_s=0)
    wait_until(lambda: box.run_once() == 0 and box.pending() == 0, timeout=10, what="the cards to be sent")


def blocks(call):
    return json.dumps(call.body.get("blocks"), ensure_ascii=False)


@pytest.fixture
def watched(make_runtime, fake_slack):
    rt = make_runtime(CONFIG, fake=fake_slack)
    return rt, Heartbeats(rt.sessions, rt.clock, rt.config), escalator(rt)


def test_a_heartbeat_that_stops_fires_one_alert_at_its_deadline(watched, fake_slack, clock):
    rt, beats, passes = watched
    beats.beat("weather-monitor")
    clock.advance(hours=25, minutes=59, seconds=59)
    passes.run_once()
    assert alerts(rt) == []
    clock.advance(seconds=1)
    passes.run_once()
    passes.run_once()                                        # the next pass, still silent: nothing more
    [alert] = alerts(rt, WM)
    assert (alert.source, alert.status, alert.severity, alert.count) == ("heartbeat", "firing", "P2", 1)
    assert (alert.channel, alert.service) == ("C0PAGES", "weather-monitor")           # routed by alerts.routes
    assert alert.title == "No heartbeat from weather-monitor in 26h"
    assert alert.reason.startswith("weather-monitor last beat 26h ago, at 2026-11-23 03:00 UTC (expected every 26h)")
    with rt.sessions() as s:
        assert s.get(Incident, alert.incident_id).title == alert.title                # a P2: an incident, as any
    deliver(rt)
    [card] = fake_slack.named("chat.postMessage")
    assert card.body["channel"] == "C0PAGES" and "No heartbeat from weather-monitor in 26h* — FIRING" in blocks(card)


def test_a_new_beat_resolves_it_and_starts_the_clock_again(watched, fake_slack, clock):
    rt, beats, passes = watched
    beats.beat("weather-monitor")
    clock.advance(hours=27)
    passes.run_once()
    deliver(rt)
    [fired] = alerts(rt, WM)
    clock.advance(minutes=30)
    beat = beats.beat("weather-monitor", note="run 42")
    assert beat.resolved == (fired.id,) and beat.next_due == clock.now + (beat.next_due - beat.at)
    [resolved] = alerts(rt, WM)
    assert (resolved.status, resolved.resolved_by) == ("resolved", "opsbot")
    deliver(rt)
    assert "RESOLVED" in blocks([c for c in fake_slack.named("chat.update") if "weather" in blocks(c)][-1])
    clock.advance(hours=25, minutes=59)
    passes.run_once()
    assert len(alerts(rt, WM)) == 1                              # 26h after the new beat, not after the old one
    clock.advance(minutes=1)
    passes.run_once()
    [old, new] = alerts(rt, WM)
    assert (old.id, old.status, new.status) == (fired.id, "resolved", "firing")
    assert beats.beat("weather-monitor").resolved == (new.id,)
    assert beats.beat("weather-monitor").resolved == ()      # nothing left to resolve


def test_a_heartbeat_that_never_beat_fires_within_after_the_bot_began_watching(watched, clock):
    rt, beats, passes = watched
    passes.run_once()                                        # the first pass starts watching both
    clock.advance(hours=23, minutes=59)
    passes.run_once()
    assert alerts(rt) == []
    clock.advance(minutes=1)
    passes.run_once()
    [alert] = alerts(rt)
    assert (alert.dedup_key, alert.channel, alert.severity) == ("hb:ml-training", "C0ML", "P3")   # its route
    assert alert.reason == ("ml-training has sent no beat since opsbot began watching it 24h ago, at 2026-11-23 "
                            "03:00 UTC (expected every 24h). Its first beat resolves this alert.")
    assert alert.incident_id is None                          # P3 (alerts.default_severity) opens none


def test_a_longer_silence_counts_again_and_a_hand_resolved_alert_opens_anew(watched, clock):
    rt, beats, passes = watched
    beats.beat("weather-monitor")
    clock.advance(hours=26)
    passes.run_once()
    clock.advance(hours=25)
    passes.run_once()
    [alert] = alerts(rt, WM)
    assert alert.count == 1
    clock.advance(hours=1)                                  # a second whole `within` of silence
    passes.run_once()
    [alert] = alerts(rt, WM)
    assert (alert.count, alert.status) == (2, "firing") and "last beat 52h ago" in alert.reason
    rt.alerts.resolve(alert.id, user="U0ALICE")
    clock.advance(hours=26)
    passes.run_once()
    assert [(a.status, a.count) for a in alerts(rt, WM)] == [("resolved", 2), ("firing", 1)]


def test_two_replicas_fire_each_silence_once(make_runtime, clock, db_url):
    config = {**CONFIG, "heartbeats": [{"name": f"job-{n}", "within": "1h", "token": TOKEN_ENV} for n in range(8)]}
    replicas = [make_runtime(config) for _ in range(2)]
    for rt in replicas:
        escalator(rt).run_once()                               # both start watching all eight
    clock.advance(hours=1)
    barrier = threading.Barrier(2)
    fired: list[int] = []
    errors: list[BaseException] = []

    def replica(rt):
        try:
            barrier.wait(5)
            for _ in range(3):
                fired.extend(Heartbeats(rt.sessions, rt.clock, rt.config).fire_missed())
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=replica, args=(rt,)) for rt in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    made = alerts(replicas[0])
    assert sorted(fired) == [a.id for a in made] and len(made) == 8           # one alert per heartbeat, in total
    assert {a.count for a in made} == {1}
    with replicas[1].sessions() as s:
        assert {h.misses for h in s.scalars(select(Heartbeat))} == {1}


@pytest.mark.parametrize("heartbeats, extra, problem", [
    ([{"name": "a", "within": "1h"}], {}, "heartbeats[0].token: nothing to check a beat's token against"),
    ([{"name": "a", "within": "1h", "token": TOKEN_ENV, "service": "nope"}], {},
     "heartbeats[0].service: no service named 'nope'"),
    ([{"name": "a", "within": "1h", "token": TOKEN_ENV}] * 2, {}, "heartbeats[1].name: the heartbeat name 'a' is "
                                                                  "used twice"),
    ([{"name": "a", "within": "30s", "token": TOKEN_ENV}], {}, "heartbeats[0].within: must be between 60s and"),
    ([{"name": "a", "within": "1h", "severity": "critical", "token": TOKEN_ENV}], {},
     "heartbeats[0].severity: 'critical' is not a severity"),
    ([{"name": "weather", "within": "1h", "token": TOKEN_ENV}],
     {"checklists": {"morning": {"checks": [{"check": "heartbeat", "heartbeat": "wether"}]}}},
     "checklists.morning.checks[0].heartbeat: no heartbeat named 'wether'; valid: weather; did you mean `weather`?"),
])
def test_config_problems_name_the_key(heartbeats, extra, problem):
    with pytest.raises(ConfigError) as err:
        parse_config({"heartbeats": heartbeats, **extra})
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_the_webhook_token_is_the_default():
    config = parse_config({"alerts": {"webhook": {"token_env": "HOOK"}}, "heartbeats": [{"name": "a", "within": 60}]})
    assert config.heartbeat("a").token is None


def test_config_check_lists_each_heartbeat():
    from pathlib import Path

    from bot.config.summary import summary

    config = parse_config({"alerts": {"webhook": {"token_env": "HOOK"}}, "heartbeats": [
        {"name": "a", "within": "26h", "route": "#jobs"}, {"name": "b", "within": "8d", "severity": "P1",
                                                           "token": TOKEN_ENV}]})
    assert summary(config, Path("ops.yaml")).splitlines()[-3:] == [
        "  heartbeats   2",
        "    - a: POST /alerts/heartbeat/a at least every 26h, else a P3 alert -> #jobs; token in environment "
        "variable HOOK (the webhook's)",
        "    - b: POST /alerts/heartbeat/b at least every 192h, else a P1 alert -> alerts.routes; token in "
        "environment variable HB_TOKEN"]
