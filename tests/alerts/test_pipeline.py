"""Storing alerts: dedupe, receipts, resolution, routing, incidents, one coalesced delivery per alert."""
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from bot.alerts.model import AlertEvent
from bot.storage.models import Alert, Incident, IncidentEvent, OutboxMessage

CONFIG = {"channels": {"alerts": "#alerts"},
          "alerts": {"routes": [{"match": {"severity": "P1"}, "channel": "#incidents"},
                                {"match": {"service": "search"}, "channel": "#search"}]}}


def event(key="k1", status="firing", severity="warning", service=None, receipt=None):
    return AlertEvent(source="webhook", dedup_key=key, title=f"alert {key}", status=status, severity=severity,
                      service=service, receipt=receipt)


def rows(rt, model):
    with rt.sessions() as s:
        return s.scalars(select(model).order_by(model.id)).all()


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
