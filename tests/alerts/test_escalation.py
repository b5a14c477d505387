"""An unacknowledged alert escalates at its deadline exactly once: across passes, restarts and replicas."""
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.alerts.model import AlertEvent
from bot.config import parse_config
from bot.settings import Settings
from bot.storage.models import Alert, IncidentEvent
from tests.alerts.workers import escalator as make_escalator
from tests.alerts.workers import outbox, slack_runtime
from tests.conftest import slack_env
from tests.waiting import wait_until

CONFIG = {
    "channels": {"alerts": "C0ALERTS"},
    "oncall": {"rotations": [{"name": "primary", "members": ["U0ALICE", "U0BOB"], "start": "2026-11-16 09:00"}]},
    "alerts": {"escalation": {"P1": {"steps": [{"after": "5m", "notify": "oncall"},
                                              {"after": "15m", "notify": ["U0LEAD"]},
                                              {"after": "1h", "notify": ["U0MANAGER"]}]}}},
}
FIRED = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)     # Monday 03:00 UTC: Alice's week (hand-over Mondays 09:00)


def p1(key="api-down"):
    return AlertEvent(source="webhook", dedup_key=key, title="API down", status="firing", severity="critical")


@pytest.fixture
def escalating(make_runtime, fake_slack, clock):
    clock.now = FIRED
    rt = make_runtime(CONFIG, fake=fake_slack)
    rt.alerts.ingest([p1()])
    return rt, make_escalator(rt)


def deliver(rt):
    """Send what the escalator queued, as the outbox worker does."""
    box = outbox(rt, interval_s=0)
    wait_until(lambda: box.run_once() == 0 and box.pending() == 0, timeout=10, what="the notices to be sent")


def dms(fake_slack):
    """Users who got a direct message (in the IM channel conversations.open answered), in order."""
    return [c.body["channel"][1:] for c in fake_slack.named("chat.postMessage") if c.body["channel"].startswith("D")]


def test_nothing_before_the_deadline_then_one_step_at_it(escalating, fake_slack, clock):
    rt, escalator = escalating
    clock.advance(minutes=4, seconds=59)
    assert escalator.run_once() == []
    clock.advance(seconds=1)
    [step] = escalator.run_once()
    assert (step.step, step.of, step.users) == (1, 3, ("U0ALICE",))
    assert escalator.run_once() == []                        # a second pass at the same time: nothing
    deliver(rt)
    assert dms(fake_slack) == ["U0ALICE"]
    dm = fake_slack.messages(fake_slack.im("U0ALICE"))[0].text
    assert "has not been acknowledged after 5m (escalation step 1 of 3)" in dm
    clock.advance(minutes=10)
    assert [s.users for s in escalator.run_once()] == [("U0LEAD",)]
    with rt.sessions() as s:
        alert = s.scalars(select(Alert)).one()
        kinds = [e.kind for e in s.scalars(select(IncidentEvent))]
    assert (alert.escalation_step, alert.escalated_to) == (2, "U0LEAD") and kinds.count("escalated") == 2


def test_acknowledging_stops_escalation(escalating, run_ops, fake_slack, clock):
    rt, escalator = escalating
    run_ops(rt, "ack 1", user="U0ALICE")
    clock.advance(hours=2)
    assert escalator.run_once() == []
    deliver(rt)
    assert dms(fake_slack) == []


def test_a_restart_does_not_repeat_a_step(escalating, fake_slack, clock, db_url):
    rt, escalator = escalating
    clock.advance(minutes=6)
    assert len(escalator.run_once()) == 1
    restarted = slack_runtime(Settings.from_env(slack_env(fake_slack, db_url)), parse_config(CONFIG), clock=clock)
    try:
        assert make_escalator(restarted).run_once() == []
        deliver(restarted)
    finally:
        restarted.engine.dispose()
    assert dms(fake_slack) == ["U0ALICE"]


@pytest.mark.postgres
def test_two_replicas_on_postgres_take_each_step_once(postgres_url, fake_slack, clock):
    clock.now = FIRED
    from tests.conftest import _truncate

    _truncate(postgres_url)
    replicas = [slack_runtime(Settings.from_env(slack_env(fake_slack, postgres_url)), parse_config(CONFIG),
                              clock=clock) for _ in range(2)]
    try:
        replicas[0].alerts.ingest([p1(f"k{i}") for i in range(10)])
        clock.advance(minutes=5)
        taken: list = []
        barrier = threading.Barrier(2)

        def replica(rt):
            barrier.wait(5)
            taken.extend(make_escalator(rt).run_once())

        threads = [threading.Thread(target=replica, args=(rt,)) for rt in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(s.alert_id for s in taken) == list(range(1, 11))     # each alert's step once, in total
        deliver(replicas[1])
        assert len(dms(fake_slack)) == 10
    finally:
        for rt in replicas:
            rt.engine.dispose()


def test_manual_escalate_takes_the_next_step_now(escalating, run_ops, fake_slack, clock):
    rt, escalator = escalating
    clock.advance(minutes=1)
    reply = run_ops(rt, "alert escalate 1", user="U0BOB")
    assert "<!here>" in reply.text
    [step] = escalator.run_once()
    assert step.users == ("U0ALICE",) and step.step == 1


def test_quiet_alerts_auto_resolve(make_runtime, fake_slack, clock):
    clock.now = FIRED
    rt = make_runtime({**CONFIG, "alerts": {**CONFIG["alerts"], "auto_resolve_after": "2h"}}, fake=fake_slack)
    rt.alerts.ingest([p1("quiet"), p1("noisy")])
    clock.advance(minutes=90)
    rt.alerts.ingest([p1("noisy")])
    clock.advance(minutes=31)
    make_escalator(rt).run_once()
    with rt.sessions() as s:
        states = {a.dedup_key: (a.status, a.resolved_by) for a in s.scalars(select(Alert))}
    assert states == {"quiet": ("resolved", "opsbot"), "noisy": ("firing", None)}


def test_an_acknowledgement_that_times_out_fires_again_and_renotifies(make_runtime, run_ops, fake_slack, clock):
    clock.now = FIRED
    rt = make_runtime({**CONFIG, "alerts": {**CONFIG["alerts"], "ack_timeout": "30m"}}, fake=fake_slack)
    rt.alerts.ingest([p1()])
    run_ops(rt, "ack 1", user="U0BOB")
    escalator = make_escalator(rt)
    clock.advance(minutes=29)
    assert escalator.run_once() == []
    clock.advance(minutes=2)
    [step] = escalator.run_once()                     # back to firing, escalation restarts from step 1
    assert step.step == 1 and step.users == ("U0ALICE",)
    with rt.sessions() as s:
        alert = s.scalars(select(Alert)).one()
        kinds = [e.kind for e in s.scalars(select(IncidentEvent).order_by(IncidentEvent.id))]
    assert (alert.status, alert.acknowledged_by) == ("firing", None) and "ack timed out" in kinds


def test_repeat_escalation_from_a_given_step(escalating, run_ops, fake_slack, clock):
    rt, escalator = escalating
    clock.advance(minutes=20)
    assert [s.step for s in escalator.run_once()] == [1]          # overdue: takes step 1 (then 2 next pass)
    assert [s.step for s in escalator.run_once()] == [2]
    run_ops(rt, "alert escalate 1 from 1", user="U0LEAD")
    [again] = escalator.run_once()
    assert (again.step, again.users) == (1, ("U0ALICE",))
    bad = run_ops(rt, "alert escalate 1 from 9")
    assert bad.outcome == "conflict" and "has 3 step(s)" in bad.text


def test_escalating_an_acknowledged_alert_by_hand_takes_one_step_only(escalating, run_ops, clock):
    rt, escalator = escalating
    run_ops(rt, "ack 1", user="U0ALICE")
    run_ops(rt, "alert escalate 1", user="U0ALICE")
    [step] = escalator.run_once()
    assert step.step == 1
    clock.advance(hours=2)
    assert escalator.run_once() == []


def test_a_silenced_alert_does_not_escalate_until_the_silence_ends(escalating, run_ops, fake_slack, clock):
    rt, escalator = escalating
    run_ops(rt, "alert silence 1 1h", user="U0ALICE")
    clock.advance(minutes=30)
    assert escalator.run_once() == []
    clock.advance(minutes=31)
    assert [s.step for s in escalator.run_once()] == [1]
