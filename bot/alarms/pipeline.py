"""Alert events in, alerts stored: receipts dedupe redeliveries, dedup keys merge repeats into one alert,
P1/P2 open an incident, and every change queues one (coalesced) Slack delivery.

Storing comes first and is the only thing a receiver waits for: Slack may be down, the outbox
delivers later from the database.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import incidents
from bot.alarms.model import AlertEvent
from bot.config import OpsConfig
from bot.runtime import Runtime
from bot.storage.db import session_scope
from bot.storage.models import Alert, AlertReceipt, AlertStatus, Incident, IncidentEvent, OutboxMessage

log = logging.getLogger(__name__)
ATTEMPTS = 5
BOT_ACTOR = "opsbot"


@dataclass(frozen=True, slots=True)
class Ingested:
    accepted: int
    duplicates: int
    alert_ids: tuple[int, ...]


def route(config: OpsConfig, event: AlertEvent, severity: str) -> str:
    facts = {**event.details, "severity": severity, "source": event.source, "service": event.service or ""}
    for rule in config.alerts.routes:
        if all(facts.get(k) == v for k, v in rule.match.items()):
            return rule.channel
    return config.channels.alerts


def ingest(rt: Runtime, events: list[AlertEvent]) -> Ingested:
    accepted, duplicates, ids = 0, 0, []
    for event in events:
        alert_id = _ingest_one(rt, event)
        if alert_id is None:
            duplicates += 1
        else:
            accepted += 1
            if alert_id > 0:
                ids.append(alert_id)
    return Ingested(accepted, duplicates, tuple(ids))


def _ingest_one(rt: Runtime, event: AlertEvent) -> int | None:
    """The alert id; 0 for a resolution of nothing we know; None for a redelivery already processed."""
    for attempt in range(ATTEMPTS):
        try:
            with session_scope(rt.sessions) as session:
                return _apply(session, rt, event, rt.clock())
        except IntegrityError:
            # Another request stored the same receipt or dedup key first: re-read and merge into it.
            log.debug("alert %s raced (attempt %d); retrying", event.dedup_key, attempt + 1)
    raise RuntimeError(f"alert {event.dedup_key} could not be stored after {ATTEMPTS} attempts")


def _apply(session: Session, rt: Runtime, event: AlertEvent, now: datetime) -> int | None:
    if event.receipt is not None:
        if session.get(AlertReceipt, event.receipt) is not None:
            return None
        session.add(AlertReceipt(key=event.receipt, received_at=now))
    alert = session.scalars(select(Alert).where(Alert.active_key == event.dedup_key).with_for_update()).one_or_none()
    if alert is None:
        if event.status == "resolved":
            return 0
        alert = _new_alert(session, rt, event, now)
    elif event.status == "resolved":
        _resolve(session, alert, now, by=BOT_ACTOR, why=f"{event.source} reported it resolved")
    else:
        alert.count += 1
        alert.last_seen = now
        alert.reason = event.reason or alert.reason
    enqueue(session, alert, now)
    return alert.id


def _new_alert(session: Session, rt: Runtime, event: AlertEvent, now: datetime) -> Alert:
    severity = rt.config.alerts.severity(event.severity)
    alert = Alert(
        source=event.source, dedup_key=event.dedup_key, active_key=event.dedup_key, title=event.title,
        severity=severity, status=AlertStatus.FIRING.value, service=event.service, reason=event.reason,
        details=json.dumps(dict(event.details), sort_keys=True), runbook_url=event.runbook_url,
        channel=route(rt.config, event, severity), count=1, first_seen=now, last_seen=now,
    )
    session.add(alert)
    session.flush()
    if severity in rt.config.alerts.incident_severities:
        record = incidents.open_incident(session=session, title=event.title[:200], severity=severity,
                                         opened_by=BOT_ACTOR, at=now, service=event.service)
        alert.incident_id = record.id
        _timeline(session, record.id, now, "alert", f"opened automatically from alert #{alert.id}")
    return alert


def _resolve(session: Session, alert: Alert, now: datetime, *, by: str, why: str) -> None:
    alert.status, alert.active_key = AlertStatus.RESOLVED.value, None
    alert.resolved_at, alert.resolved_by, alert.last_seen = now, by, now
    if alert.incident_id is not None:
        _timeline(session, alert.incident_id, now, "alert resolved", why)


def _timeline(session: Session, incident_id: int, at: datetime, kind: str, note: str) -> None:
    if session.get(Incident, incident_id) is not None:
        session.add(IncidentEvent(incident_id=incident_id, at=at, kind=kind, actor=BOT_ACTOR, note=note))


def enqueue(session: Session, alert: Alert, now: datetime) -> None:
    """Queue one delivery of the alert's current state; a delivery already queued covers this change too."""
    key = f"alert:{alert.id}"
    if session.scalars(select(OutboxMessage.id).where(OutboxMessage.pending_key == key)).first() is None:
        session.add(OutboxMessage(alert_id=alert.id, channel=alert.slack_channel or alert.channel, pending_key=key,
                                  created_at=now, not_before=now, attempts=0))
