"""Storing alerts: dedupe, receipts, resolution, routing, incidents, one coalesced delivery per alert."""
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from bot.alerts import housekeeping
from bot.alerts.model import AlertEvent
from bot.storage.db import session_scope
from bot.storage.models import Alert, AlertReceipt, Incident, IncidentEvent, OutboxMessage
from tests.waiting import wait_until

CONFIG = {"channels": {"alerts": "#alerts"},
          "alerts": {"routes": [{"match": {"severity": "P1"}, "channel": "#incidents"},
                                {"match": {"service": "search"}, "channel": "#search"}]}}


def event(key="k1", status="firing", severity="warning", service=None, receipt=None):
    return AlertEvent(source="webhook", dedup_key=key, title=f"alert {key}", status=status, severity=severity,
                      service=service, receipt=receipt)


def rows(rt, model):
    with rt.sessions() as s:
        return s.scalars(select(model).order_by(*model.__mapper__.primary_key)).all()


def test_repeats_merge_into_one_alert_with_a_count(make_runtime, clock):
    rt = make_runtime(CONFIG)
    for _ in range(50):
        rt.alerts.ingest([event()])
        clock.advance(seconds=1)
    [alert] = rows(rt, Alert)
    assert (alert.count, alert.status, alert.severity, alert.channel) == (50, "firing", "P3", "#alerts")
    assert (alert.last_seen - alert.first_seen).total_seconds() == 49
    assert len(rows(rt, OutboxMessage)) == 1          # 50 changes, one pending delivery


def test_resolution_closes_the_alert_and_a_new_firing_starts_another(make_runtime):
    rt = make_runtime(CONFIG)
    rt.alerts.ingest([event()])
    rt.alerts.ingest([event(status="resolved")])
    rt.alerts.ingest([event()])
    first, second = rows(rt, Alert)
    assert (first.status, first.active_key, first.resolved_by) == ("resolved", None, "opsbot")
    assert (second.status, second.active_key, second.count) == ("firing", "k1", 1)


def test_a_resolution_of_an_unknown_alert_is_accepted_and_ignored(make_runtime):
    rt = make_runtime(CONFIG)
    result = rt.alerts.ingest([event(status="resolved")])
    assert result.accepted == 1 and rows(rt, Alert) == []


def test_redelivered_receipts_are_processed_once(make_runtime):
    rt = make_runtime(CONFIG)
    first = rt.alerts.ingest([event(receipt="sns:m-1")])
    again = rt.alerts.ingest([event(receipt="sns:m-1")])
    assert (first.accepted, again.duplicates) == (1, 1)
    assert rows(rt, Alert)[0].count == 1


def test_routing_and_severity_mapping(make_runtime):
    rt = make_runtime(CONFIG)
    rt.alerts.ingest([event("a", severity="critical"), event("b", service="search"), event("c", severity=None)])
    assert [(a.severity, a.channel) for a in rows(rt, Alert)] == [("P1", "#incidents"), ("P3", "#search"),
                                                                  ("P3", "#alerts")]


def test_p1_and_p2_open_an_incident_linked_to_the_alert(make_runtime):
    rt = make_runtime(CONFIG)
    rt.alerts.ingest([event("a", severity="critical", service="backend"), event("b", severity="info")])
    rt.alerts.ingest([event("a", status="resolved")])
    alerts = rows(rt, Alert)
    [incident] = rows(rt, Incident)
    assert alerts[0].incident_id == incident.id and alerts[1].incident_id is None
    assert (incident.severity, incident.service, incident.opened_by) == ("P1", "backend", "opsbot")
    assert [e.kind for e in rows(rt, IncidentEvent)] == ["opened", "alert", "alert resolved"]


def test_concurrent_firings_of_one_key_make_one_alert(make_runtime):
    rt = make_runtime(CONFIG)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: rt.alerts.ingest([event()]), range(40)))
    [alert] = rows(rt, Alert)
    assert alert.count == 40 and len(rows(rt, OutboxMessage)) == 1


# ---- redelivery: a delivery's receipt (see bot.alerts.pipeline) ------------------------------------------

def test_a_redelivered_batch_counts_nothing_twice(make_runtime, clock):
    rt = make_runtime(CONFIG)
    batch = [event("k1"), event("k1"), event("k1"), event("k2"), event("k2"), event("k3", status="resolved")]
    first = rt.alerts.ingest(batch, receipt="am:abc")
    clock.advance(minutes=14)                      # the sender retries within the window
    again = rt.alerts.ingest(batch, receipt="am:abc")
    assert (first.accepted, first.duplicates) == (6, 0)
    assert (again.accepted, again.duplicates, again.alert_ids) == (0, 6, ())
    assert [(a.dedup_key, a.count, a.status) for a in rows(rt, Alert)] == [("k1", 3, "firing"), ("k2", 2, "firing")]
    assert [a.last_seen for a in rows(rt, Alert)] == [clock.now - timedelta(minutes=14)] * 2
    assert len(rows(rt, OutboxMessage)) == 2


def test_a_redelivered_batch_fires_an_alert_resolved_since_and_resolves_a_live_one(make_runtime, clock):
    rt = make_runtime(CONFIG)
    rt.alerts.ingest([event("k1"), event("k2")], receipt="am:one")
    rt.alerts.resolve(rows(rt, Alert)[0].id, user="U0ALICE")         # k1 resolved by hand; k2 still firing
    clock.advance(minutes=1)
    again = rt.alerts.ingest([event("k1"), event("k2")], receipt="am:one")
    k1, k2, k1_again = rows(rt, Alert)
    assert (k1.status, k2.count, k2.status) == ("resolved", 1, "firing")   # the live one is not counted again
    assert (k1_again.dedup_key, k1_again.status, k1_again.count) == ("k1", "firing", 1)
    assert (again.accepted, again.duplicates, again.alert_ids) == (1, 1, (k1_again.id,))

    rt.alerts.ingest([event("k2", status="resolved")], receipt="wh:two")
    rt.alerts.ingest([event("k2")], receipt="wh:three")                   # k2 fires again: a new alert
    rt.alerts.ingest([event("k2", status="resolved")], receipt="wh:two")  # the redelivered resolution applies
    assert [(a.dedup_key, a.status) for a in rows(rt, Alert)][3:] == [("k2", "resolved")]


def test_a_receipt_older_than_the_window_is_a_new_delivery_and_is_pruned(make_runtime, clock):
    rt = make_runtime(CONFIG)
    rt.alerts.ingest([event("k1")], receipt="am:abc")
    clock.advance(minutes=15, seconds=1)
    later = rt.alerts.ingest([event("k1")], receipt="am:abc")      # not pruned yet: ignored all the same
    assert later.accepted == 1 and rows(rt, Alert)[0].count == 2
    with session_scope(rt.sessions) as session:
        assert housekeeping.prune_receipts(session=session, now=clock.now) == 0     # seen again just now
    clock.advance(minutes=15)
    with session_scope(rt.sessions) as session:
        assert housekeeping.prune_receipts(session=session, now=clock.now) == 1
    assert rows(rt, AlertReceipt) == []
    rt.alerts.ingest([event("k1")], receipt="am:abc")
    assert rows(rt, Alert)[0].count == 3


def test_per_event_receipts_and_long_receipts(make_runtime):
    rt = make_runtime(CONFIG)
    long_key = "wh:key:" + "x" * 500
    rt.alerts.ingest([event("k1", receipt="sns:m-1"), event("k1", receipt="sns:m-2")], receipt=long_key)
    again = rt.alerts.ingest([event("k1", receipt="sns:m-2")])
    assert (again.duplicates, rows(rt, Alert)[0].count) == (1, 2)
    assert rt.alerts.ingest([event("k1")], receipt=long_key).duplicates == 1
    assert sorted(len(r.key) <= 200 for r in rows(rt, AlertReceipt)) == [True] * 3


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_batch_that_loses_a_race_is_stored_again_whole_with_its_receipt(make_runtime, clock):
    """PostgreSQL only: SQLite takes its write lock at BEGIN, so two deliveries never race there."""
    rt = make_runtime(CONFIG)
    with rt.sessions() as other:                   # another delivery stores k1 first and has not committed yet
        other.add(Alert(source="webhook", dedup_key="k1", active_key="k1", title="alert k1", severity="P3",
                        status="firing", channel="#alerts", count=5, first_seen=clock.now, last_seen=clock.now))
        other.flush()
        blocker = other.execute(text("SELECT pg_backend_pid()")).scalar()
        with ThreadPoolExecutor(1) as pool:
            ours = pool.submit(rt.alerts.ingest, [event("k1"), event("k2")], receipt="am:raced")
            wait_until(lambda: _waiting_on(rt, blocker), timeout=10, what="the batch to wait for the other's k1")
            other.commit()
            result = ours.result(timeout=30)
    assert result.accepted == 2
    assert [(a.dedup_key, a.count) for a in rows(rt, Alert)] == [("k1", 6), ("k2", 1)]
    assert [r.key for r in rows(rt, AlertReceipt)] == ["am:raced"]
    assert rt.alerts.ingest([event("k1"), event("k2")], receipt="am:raced").duplicates == 2
    assert [a.count for a in rows(rt, Alert)] == [6, 1]


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_redelivery_arriving_while_the_first_delivery_is_stored_counts_nothing(make_runtime, clock):
    """The sender's retry overtakes the slow first attempt: it waits for it, then counts as a redelivery."""
    rt = make_runtime(CONFIG)
    rt.alerts.ingest([event("k1")], receipt="am:earlier")
    with rt.sessions() as first:                   # the first attempt has stored its receipt, not committed yet
        first.add(AlertReceipt(key="am:retried", received_at=clock.now))
        first.flush()
        blocker = first.execute(text("SELECT pg_backend_pid()")).scalar()
        with ThreadPoolExecutor(1) as pool:
            retry = pool.submit(rt.alerts.ingest, [event("k1")], receipt="am:retried")
            wait_until(lambda: _waiting_on(rt, blocker), timeout=10, what="the retry to wait for the first attempt")
            first.commit()
            result = retry.result(timeout=30)
    assert (result.accepted, result.duplicates) == (0, 1)
    assert [a.count for a in rows(rt, Alert)] == [1]


def _waiting_on(rt, pid):
    with rt.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
                            {"pid": pid}).scalar()


# ---- a batch is set-based: the same rows as one delivery per alert ---------------------------------------

ESCALATING = {**CONFIG, "alerts": {**CONFIG["alerts"],
                                   "escalation": {"P1": {"steps": [{"after": "5m", "notify": "U0LEAD"}]}}}}


def test_500_distinct_new_alerts_in_one_batch_give_the_rows_of_one_delivery_each(make_runtime, clock):
    rt = make_runtime(ESCALATING)
    severities = ["critical", "warning", "high", "info", "critical"]

    def events(prefix, n):
        return [event(f"{prefix}{i:03}", severity=severities[i % 5], service=("search", "api")[i % 2])
                for i in range(n)]

    batch = rt.alerts.ingest(events("b", 500))
    singles = [rt.alerts.ingest([e]) for e in events("s", 100)]     # one delivery each: the pattern repeats
    assert batch.accepted == 500 and len(set(batch.alert_ids)) == 500
    assert [s.accepted for s in singles] == [1] * 100
    from_batch, one_by_one = _snapshot(rt, "b"), _snapshot(rt, "s")
    assert from_batch[:100] == one_by_one
    assert [row[1:] for row in from_batch[100:]] == [row[1:] for row in from_batch[:100]] * 4
    assert sum(1 for row in from_batch if row[5] is not None) == 300       # P1 (critical) and P2 (high)
    assert from_batch[0] == ("000", "P1", "#incidents", 1, clock.now + timedelta(minutes=5),
                             ("alert {key}", "P1", "search", "open"),
                             [("opened", "P1: alert {key}"), ("alert", "opened automatically from alert #{id}")],
                             [("#incidents", "alert:{id}")])


def _snapshot(rt, prefix):
    """Each alert of `prefix` with its incident, timeline and outbox rows, its own key and ids written as {…}."""
    with rt.sessions() as s:
        incidents = {i.id: i for i in s.scalars(select(Incident))}
        timelines = {}
        for e in s.scalars(select(IncidentEvent).order_by(IncidentEvent.id)):
            timelines.setdefault(e.incident_id, []).append(e)
        outbox = {}
        for o in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)):
            outbox.setdefault(o.alert_id, []).append(o)
        alerts = s.scalars(select(Alert).where(Alert.dedup_key.startswith(prefix)).order_by(Alert.dedup_key)).all()
    out = []
    for a in alerts:
        def norm(value, a=a):
            return value.replace(a.dedup_key, "{key}").replace(f"#{a.id}", "#{id}").replace(f":{a.id}", ":{id}")

        incident = incidents.get(a.incident_id)
        out.append((a.dedup_key[len(prefix):], a.severity, a.channel, a.count, a.next_escalation_at,
                    incident and (norm(incident.title), incident.severity, incident.service, incident.status),
                    incident and [(e.kind, norm(e.note)) for e in timelines[incident.id]],
                    [(o.channel, norm(o.pending_key)) for o in outbox.get(a.id, [])]))
    return out
