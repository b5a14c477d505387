"""Incidents escalate by the per-severity policies, acknowledged or not: `unresolved_after` steps after an
acknowledgement, hand-opened incidents too, business hours for a P3, one page per step for an alert and the
incident it opened, and each step once across two replicas on PostgreSQL. Time is the injected StepClock."""
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text, update

from bot.alerts.model import AlertEvent
from bot.config import parse_config
from bot.incidents import card as incident_card
from bot.settings import Settings
from bot.storage.models import Alert, Incident, IncidentEvent
from tests.alerts.workers import escalator as make_escalator
from tests.alerts.workers import outbox, slack_runtime
from tests.conftest import _truncate, slack_env
from tests.waiting import wait_until

BERLIN = ZoneInfo("Europe/Berlin")
ROTATION = {"name": "primary", "members": ["U0ALICE", "U0BOB"], "start": "2026-11-16 09:00"}
FIRED = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)     # Monday 03:00 UTC: Alice's week


def config(policies, **more):
    return {"channels": {"alerts": "C0ALERTS", "default": "C0ONCALL"}, "oncall": {"rotations": [ROTATION]},
            "alerts": {"escalation": policies}, **more}


P1_LEAD_THEN_CTO = {"P1": {"steps": [{"unacknowledged_after": "5m", "notify": "oncall"},
                                     {"unresolved_after": "1h", "notify": ["U0LEAD"]},
                                     {"unresolved_after": "2h", "notify": ["U0CTO"]}]}}


def p1(key="api-down"):
    return AlertEvent(source="webhook", dedup_key=key, title="API down", status="firing", severity="critical")


def deliver(rt):
    box = outbox(rt, interval_s=0)
    wait_until(lambda: box.run_once() == 0 and box.pending() == 0, timeout=10, what="the notices to be sent")


def dms(fake_slack):
    return [c.body["channel"][1:] for c in fake_slack.named("chat.postMessage") if c.body["channel"].startswith("D")]


def incident_row(rt, incident_id=1):
    with rt.sessions() as s:
        row = s.get(Incident, incident_id)
        return row.status, row.escalation_step


def kinds(rt):
    with rt.sessions() as s:
        return [(e.kind, e.note) for e in s.scalars(select(IncidentEvent).order_by(IncidentEvent.id))]


def test_an_acknowledged_but_unresolved_p1_escalates_at_unresolved_after(make_runtime, run_ops, fake_slack, clock):
    clock.now = FIRED
    rt = make_runtime(config(P1_LEAD_THEN_CTO), fake=fake_slack)
    rt.alerts.ingest([p1()])
    deliver(rt)                                                        # the alert card is in C0ALERTS
    escalator = make_escalator(rt)
    clock.advance(minutes=5)
    [first] = escalator.run_once()                                     # the alert's step; it counts for both
    assert (first.alert_id, first.step, first.users) == (1, 1, ("U0ALICE",))
    assert incident_row(rt) == ("open", 1)
    clock.advance(minutes=5)
    run_ops(rt, "ack 1", user="U0BOB")                                 # acknowledges the incident too
    assert escalator.run_once() == []
    clock.now = FIRED + timedelta(minutes=59, seconds=59)
    assert escalator.run_once() == []
    clock.now = FIRED + timedelta(hours=1)
    [lead] = escalator.run_once()
    assert (lead.incident_id, lead.alert_id, lead.step, lead.of, lead.users, lead.unresolved) == (
        1, None, 2, 3, ("U0LEAD",), True)
    assert escalator.run_once() == []                                  # a second pass at the same time: nothing
    clock.now = FIRED + timedelta(hours=2)
    assert [s.users for s in escalator.run_once()] == [("U0CTO",)]
    run_ops(rt, "incident resolve 1 fixed", user="U0BOB")
    clock.advance(hours=5)
    assert escalator.run_once() == []
    deliver(rt)
    assert dms(fake_slack) == ["U0ALICE", "U0LEAD", "U0CTO"]
    line = fake_slack.messages(fake_slack.im("U0LEAD"))[0].text
    assert "*P1 incident #1: API down* is still unresolved after 1h, acknowledged by <@U0BOB>" in line
    assert "(escalation step 2 of 3)" in line and "/ops incident resolve 1" in line
    card, *replies = fake_slack.messages("C0ALERTS")
    assert [r.thread_ts for r in replies] == [card.ts] * 3             # every step under the alert's card
    assert [k for k, _ in kinds(rt)].count("escalated") == 3
    assert ("escalated", "step 3/3 (unresolved_after 2h): U0CTO") in kinds(rt)


def test_an_alert_and_its_incident_never_page_twice_for_one_step(make_runtime, fake_slack, clock):
    clock.now = FIRED
    policy = {"P1": {"steps": [{"after": "5m", "notify": "oncall"}, {"unacknowledged_after": "15m", "notify": "U0LEAD"},
                               {"unacknowledged_after": "30m", "notify": "U0MANAGER"}]}}
    rt = make_runtime(config(policy), fake=fake_slack)
    rt.alerts.ingest([p1()])
    escalator = make_escalator(rt)
    clock.advance(minutes=5)
    assert [(s.alert_id, s.incident_id) for s in escalator.run_once()] == [(1, None)]
    clock.advance(minutes=10)
    assert [(s.alert_id, s.step) for s in escalator.run_once()] == [(1, 2)]
    assert incident_row(rt) == ("open", 2)
    clock.advance(minutes=5)
    rt.alerts.ingest([AlertEvent(source="webhook", dedup_key="api-down", title="API down", status="resolved")])
    clock.advance(minutes=10)                                          # 30m: the alert is gone, nobody acked
    [third] = escalator.run_once()
    assert (third.incident_id, third.step, third.users) == (1, 3, ("U0MANAGER",))
    clock.advance(hours=3)
    assert escalator.run_once() == []
    deliver(rt)
    assert dms(fake_slack) == ["U0ALICE", "U0LEAD", "U0MANAGER"]


def test_a_silenced_alert_holds_its_incidents_unacknowledged_steps_back(make_runtime, run_ops, fake_slack, clock):
    clock.now = FIRED
    rt = make_runtime(config({"P1": {"steps": [{"after": "5m", "notify": "oncall"}]}}), fake=fake_slack)
    rt.alerts.ingest([p1()])
    run_ops(rt, "alert silence 1 1h", user="U0ALICE")
    escalator = make_escalator(rt)
    clock.advance(minutes=30)
    assert escalator.run_once() == []                                  # neither the alert nor its incident
    clock.advance(minutes=31)
    assert [(s.alert_id, s.incident_id) for s in escalator.run_once()] == [(1, None)]
    assert incident_row(rt) == ("open", 1)


def test_an_incident_opened_by_hand_escalates(make_runtime, run_ops, fake_slack, clock):
    clock.now = FIRED
    policy = {"P2": {"steps": [{"unacknowledged_after": "10m", "notify": "oncall"},
                               {"unresolved_after": "1h", "notify": "U0LEAD"}]}}
    rt = make_runtime(config(policy), fake=fake_slack)
    reply = run_ops(rt, "incident open P2 Checkout is slow", user="U0CAROL")
    rt.board.show(incident_card.card(rt.incidents.get(1), now=clock()), channel="C0ONCALL")  # as Slack posts it
    escalator = make_escalator(rt)
    assert reply.card is not None and escalator.run_once() == []
    clock.advance(minutes=9, seconds=59)
    assert escalator.run_once() == []
    clock.advance(seconds=1)
    [first] = escalator.run_once()
    assert (first.incident_id, first.step, first.users, first.unresolved) == (1, 1, ("U0ALICE",), False)
    run_ops(rt, "incident ack 1", user="U0ALICE")
    clock.now = FIRED + timedelta(hours=1)
    assert [(s.step, s.users) for s in escalator.run_once()] == [(2, ("U0LEAD",))]
    deliver(rt)
    assert dms(fake_slack) == ["U0ALICE", "U0LEAD"]
    card, *replies = fake_slack.messages("C0ONCALL")
    assert [r.thread_ts for r in replies] == [card.ts, card.ts]        # under the incident's card
    assert "has not been acknowledged after 10m (escalation step 1 of 2). `/ops incident ack 1`" in replies[0].text


def test_a_hand_opened_incident_whose_card_was_never_posted_is_told_in_the_default_channel(
        make_runtime, run_ops, fake_slack, clock):
    clock.now = FIRED
    rt = make_runtime(config({"P4": {"steps": [{"unacknowledged_after": "0s", "notify": "U0LEAD"}]}}),
                      fake=fake_slack)
    run_ops(rt, "incident open P4 Typo on the status page")
    assert [s.users for s in make_escalator(rt).run_once()] == [("U0LEAD",)]
    deliver(rt)
    [line] = fake_slack.messages("C0ONCALL")
    assert line.thread_ts is None and "<@U0LEAD>" in line.text


def test_resolving_or_acknowledging_in_time_stops_the_steps_it_makes_moot(make_runtime, run_ops, fake_slack, clock):
    clock.now = FIRED
    rt = make_runtime(config(P1_LEAD_THEN_CTO), fake=fake_slack)
    run_ops(rt, "incident open P1 Payments down")
    run_ops(rt, "incident open P1 Search down")
    run_ops(rt, "incident ack 1", user="U0BOB")                        # acknowledged: its 5m step is moot
    run_ops(rt, "incident resolve 2", user="U0BOB")                    # resolved: nothing more at all
    escalator = make_escalator(rt)
    clock.advance(minutes=30)
    assert escalator.run_once() == []
    clock.advance(minutes=30)
    assert [(s.incident_id, s.step) for s in escalator.run_once()] == [(1, 2)]     # step 1 skipped, not taken
    assert incident_row(rt, 1) == ("acknowledged", 2) and incident_row(rt, 2) == ("resolved", 0)


def test_an_incident_from_before_the_upgrade_never_escalates(make_runtime, run_ops, fake_slack, clock):
    clock.now = FIRED
    rt = make_runtime(config(P1_LEAD_THEN_CTO), fake=fake_slack)
    run_ops(rt, "incident open P1 Old one")
    with rt.sessions.begin() as s:
        s.execute(update(Incident).values(escalation_step=None))      # what migration 0013 leaves on old rows
    clock.advance(hours=5)
    assert make_escalator(rt).run_once() == []


# --- business hours ------------------------------------------------------------------------------------------

P3_OFFICE = {"P3": {"business_hours": {"days": "mon-fri", "hours": "09:00-17:00", "timezone": "Europe/Berlin",
                                       "holidays": ["2026-12-25"]},
                    "steps": [{"unacknowledged_after": "1h", "notify": "oncall"},
                              {"unresolved_after": "4h", "notify": "U0LEAD"}]}}


def berlin(*args):
    return datetime(*args, tzinfo=BERLIN).astimezone(UTC)


def test_a_p3_in_business_hours_waits_out_the_night_and_the_weekend(make_runtime, run_ops, fake_slack, clock):
    clock.now = berlin(2026, 11, 20, 16, 30)                           # Friday 16:30 in Berlin
    rt = make_runtime(config(P3_OFFICE), fake=fake_slack)
    run_ops(rt, "incident open P3 Report export is slow")
    escalator = make_escalator(rt)
    for quiet in [berlin(2026, 11, 20, 17, 30),                        # an hour later, but after hours
                  berlin(2026, 11, 21, 3, 0), berlin(2026, 11, 21, 16, 30), berlin(2026, 11, 22, 23, 0),
                  berlin(2026, 11, 23, 8, 59), berlin(2026, 11, 23, 9, 29, 59)]:
        clock.now = quiet
        assert escalator.run_once() == [], quiet
    clock.now = berlin(2026, 11, 23, 9, 30)                            # Monday 09:30: the business minute
    [step] = escalator.run_once()
    assert (step.incident_id, step.step) == (1, 1)
    run_ops(rt, "incident ack 1", user="U0ALICE")
    clock.now = berlin(2026, 11, 23, 12, 29)                           # 30m Fri + 3h29m Mon of the 4h
    assert escalator.run_once() == []
    clock.now = berlin(2026, 11, 23, 12, 30)
    assert [s.users for s in escalator.run_once()] == [("U0LEAD",)]
    deliver(rt)
    [alice] = fake_slack.messages(fake_slack.im("U0ALICE"))
    [lead] = fake_slack.messages(fake_slack.im("U0LEAD"))
    assert "has not been acknowledged after 1h of business hours" in alice.text
    assert "unresolved after 4h of business hours, acknowledged by <@U0ALICE>" in lead.text


def test_a_p3_alert_raised_on_saturday_escalates_monday_at_ten_and_skips_holidays(make_runtime, fake_slack, clock):
    clock.now = berlin(2026, 11, 21, 11, 0)                            # Saturday
    rt = make_runtime(config(P3_OFFICE), fake=fake_slack)
    warn = AlertEvent(source="webhook", dedup_key="disk", title="Disk 85%", status="firing", severity="warning")
    rt.alerts.ingest([warn])
    with rt.sessions() as s:
        alert = s.scalars(select(Alert)).one()
        assert (alert.incident_id, alert.next_escalation_at) == (None, berlin(2026, 11, 23, 10, 0))
    escalator = make_escalator(rt)
    clock.now = berlin(2026, 11, 23, 9, 59)
    assert escalator.run_once() == []
    clock.now = berlin(2026, 11, 23, 10, 0)
    assert [(s.alert_id, s.step) for s in escalator.run_once()] == [(1, 1)]
    clock.now = berlin(2026, 12, 24, 16, 45)                           # Thursday; Friday is a holiday
    rt.alerts.ingest([AlertEvent(source="webhook", dedup_key="cpu", title="CPU", status="firing", severity="warning")])
    with rt.sessions() as s:
        assert s.get(Alert, 2).next_escalation_at == berlin(2026, 12, 28, 9, 45)   # 15m Thu, 45m Monday


def test_business_hours_pause_an_acknowledgement_timeout_restart_too(make_runtime, run_ops, fake_slack, clock):
    clock.now = berlin(2026, 11, 20, 16, 0)                            # Friday
    raw = config(P3_OFFICE)
    raw["alerts"]["ack_timeout"] = "1h"
    rt = make_runtime(raw, fake=fake_slack)
    rt.alerts.ingest([AlertEvent(source="webhook", dedup_key="q", title="Queue", status="firing", severity="warning")])
    run_ops(rt, "ack 1", user="U0ALICE")
    clock.now = berlin(2026, 11, 20, 18, 0)                            # the ack timed out after hours
    assert make_escalator(rt).run_once() == []
    with rt.sessions() as s:
        alert = s.get(Alert, 1)
        assert (alert.status, alert.next_escalation_at) == ("firing", berlin(2026, 11, 23, 9, 0))


# --- replicas ------------------------------------------------------------------------------------------------

@pytest.mark.postgres
def test_two_replicas_on_postgres_take_each_incident_step_once(postgres_url, fake_slack, clock):
    clock.now = FIRED
    _truncate(postgres_url)
    cfg = parse_config(config(P1_LEAD_THEN_CTO))
    replicas = [slack_runtime(Settings.from_env(slack_env(fake_slack, postgres_url)), cfg, clock=clock)
                for _ in range(2)]
    try:
        replicas[0].alerts.ingest([p1(f"k{i}") for i in range(5)])      # alerts 1-5 open incidents 1-5
        for i in range(5):
            replicas[1].incidents.open(title=f"by hand {i}", severity="P1", opened_by="U0CAROL")   # 6-10
        taken = race(replicas, clock, FIRED + timedelta(minutes=5))    # step 1: alerts' for 1-5, incidents' 6-10
        assert sorted((s.alert_id or 0, s.incident_id or 0) for s in taken) == (
            [(0, i) for i in range(6, 11)] + [(i, 0) for i in range(1, 6)])
        for rt, first in ((replicas[0], 1), (replicas[1], 6)):
            for incident_id in range(first, first + 5):
                rt.incidents.acknowledge(incident_id=incident_id, user="U0BOB")
        taken = race(replicas, clock, FIRED + timedelta(hours=1))      # step 2: unresolved, every incident once
        assert sorted(s.incident_id for s in taken) == list(range(1, 11)) and {s.step for s in taken} == {2}
        deliver(replicas[1])
        assert sorted(dms(fake_slack)) == ["U0ALICE"] * 10 + ["U0LEAD"] * 10
        with replicas[0].engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM incidents WHERE escalation_step = 2")).scalar() == 10
    finally:
        for rt in replicas:
            rt.engine.dispose()


def race(replicas, clock, at):
    """Both replicas run one escalation pass at `at`, started together; every step either took."""
    clock.now = at
    taken: list = []
    barrier = threading.Barrier(len(replicas))

    def replica(rt):
        barrier.wait(5)
        taken.extend(make_escalator(rt).run_once())

    threads = [threading.Thread(target=replica, args=(rt,)) for rt in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return taken


def test_an_alert_that_fired_before_its_policy_existed_does_not_hold_its_incident_back(
        make_runtime, fake_slack, clock):
    clock.now = FIRED
    rt = make_runtime(config({}), fake=fake_slack)                     # no policy yet: the alert has no steps
    rt.alerts.ingest([p1()])
    restarted = make_runtime(config(P1_LEAD_THEN_CTO), fake=fake_slack)   # a restart with the new policy
    clock.advance(minutes=5)
    [step] = make_escalator(restarted).run_once()
    assert (step.alert_id, step.incident_id, step.users) == (None, 1, ("U0ALICE",))
