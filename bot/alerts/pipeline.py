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

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot import incidents
from bot.alerts.escalation import first_due
from bot.alerts.model import AlertEvent
from bot.clock import Clock
from bot.config import OpsConfig
from bot.storage.db import insert_ignoring_duplicates, session_scope
from bot.storage.models import Alert, AlertReceipt, AlertStatus, OutboxMessage

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


def ingest(*, sessions: sessionmaker[Session], clock: Clock, config: OpsConfig, events: list[AlertEvent],
           receipt: str | None = None) -> Ingested:
    """Store a delivery's events in one transaction (one commit for a batch of 500 is what survives a storm);
    if it races with another delivery, store them one by one instead. A delivery whose `receipt` was stored
    already is a redelivery: nothing changes."""
    if receipt is not None:
        with session_scope(sessions) as session:
            if session.get(AlertReceipt, receipt) is not None:
                return Ingested(0, len(events), ())
    # Same lock order in every transaction (by key, stable for one key's events): no deadlocks between batches.
    ordered = sorted(events, key=lambda e: e.dedup_key)
    try:
        with session_scope(sessions) as session:
            now = clock()
            if receipt is not None:
                session.add(AlertReceipt(key=receipt, received_at=now))
            results: list[int | None] = []
            for event, times in _runs(ordered):
                alert_id = _apply(session, config, event, now, times=times)
                results += [alert_id] * times
            return _summarize(results)
    except (IntegrityError, OperationalError):
        log.debug("a batch of %d alerts raced; storing them one by one", len(events))
    return _summarize([_ingest_one(sessions, clock, config, event) for event in ordered])


def _runs(events: list[AlertEvent]) -> list[tuple[AlertEvent, int]]:
    """Collapse back-to-back firings of one key (no receipts to check) into one event applied `times` times."""
    runs: list[tuple[AlertEvent, int]] = []
    for event in events:
        if runs and event.receipt is None and event.status == "firing" and runs[-1][0] == event:
            runs[-1] = (event, runs[-1][1] + 1)
        else:
            runs.append((event, 1))
    return runs


def _summarize(results: list[int | None]) -> Ingested:
    ids = tuple(r for r in results if r)
    duplicates = sum(1 for r in results if r is None)
    return Ingested(len(results) - duplicates, duplicates, ids)


def _ingest_one(sessions: sessionmaker[Session], clock: Clock, config: OpsConfig, event: AlertEvent) -> int | None:
    """The alert id; 0 for a resolution of nothing we know; None for a redelivery already processed."""
    for attempt in range(ATTEMPTS):
        try:
            with session_scope(sessions) as session:
                return _apply(session, config, event, clock())
        except (IntegrityError, OperationalError) as exc:
            # Another request stored the same receipt or dedup key first (or PostgreSQL broke a lock
            # cycle): re-read and merge into it.
            log.debug("alert %s raced (attempt %d): %s", event.dedup_key, attempt + 1, type(exc).__name__)
    raise RuntimeError(f"alert {event.dedup_key} could not be stored after {ATTEMPTS} attempts")


def _apply(session: Session, config: OpsConfig, event: AlertEvent, now: datetime, *, times: int = 1) -> int | None:
    if event.receipt is not None:
        if session.get(AlertReceipt, event.receipt) is not None:
            return None
        session.add(AlertReceipt(key=event.receipt, received_at=now))
    if event.status == "firing" and (repeat := _count_repeat(session, event, now, times)) is not None:
        return repeat
    alert = session.scalars(select(Alert).where(Alert.active_key == event.dedup_key).with_for_update()).one_or_none()
    if alert is None:
        if event.status == "resolved":
            return 0
        alert = _new_alert(session, config, event, now)
        alert.count = times
    elif event.status == "resolved":
        _resolve(session, alert, now, by=BOT_ACTOR, why=f"{event.source} reported it resolved")
    else:
        alert.count += times
        alert.last_seen = now
        alert.reason = event.reason or alert.reason
    enqueue(session, alert, now)
    return alert.id


def _count_repeat(session: Session, event: AlertEvent, now: datetime, times: int) -> int | None:
    """The hot path of a storm: one atomic UPDATE … RETURNING for repeats of a live alert."""
    values: dict[str, object] = {"count": Alert.count + times, "last_seen": now}
    if event.reason:
        values["reason"] = event.reason
    row = session.execute(update(Alert).where(Alert.active_key == event.dedup_key).values(**values)
                          .returning(Alert.id, Alert.channel)
                          .execution_options(synchronize_session=False)).first()
    if row is None:
        return None
    _enqueue_ids(session, row.id, row.channel, now)
    return int(row.id)


def _new_alert(session: Session, config: OpsConfig, event: AlertEvent, now: datetime) -> Alert:
    severity = config.alerts.severity(event.severity)
    alert = Alert(
        source=event.source, dedup_key=event.dedup_key, active_key=event.dedup_key, title=event.title,
        severity=severity, status=AlertStatus.FIRING.value, service=event.service, reason=event.reason,
        details=json.dumps(dict(event.details), sort_keys=True), runbook_url=event.runbook_url,
        channel=route(config, event, severity), count=1, first_seen=now, last_seen=now,
        escalation_step=0, next_escalation_at=first_due(config.alerts, severity, now), summarized=False,
    )
    session.add(alert)
    session.flush()
    if severity in config.alerts.incident_severities:
        record = incidents.open_incident(session=session, title=event.title[:200], severity=severity,
                                         opened_by=BOT_ACTOR, at=now, service=event.service)
        alert.incident_id = record.id
        incidents.add_event(session=session, incident_id=record.id, at=now, kind="alert", actor=BOT_ACTOR,
                            note=f"opened automatically from alert #{alert.id}")
    return alert


def _resolve(session: Session, alert: Alert, now: datetime, *, by: str, why: str) -> None:
    alert.status, alert.active_key, alert.next_escalation_at = AlertStatus.RESOLVED.value, None, None
    alert.resolved_at, alert.resolved_by, alert.last_seen = now, by, now
    if alert.incident_id is not None:
        incidents.add_event(session=session, incident_id=alert.incident_id, at=now, kind="alert resolved",
                            actor=BOT_ACTOR, note=why)


def enqueue(session: Session, alert: Alert, now: datetime) -> None:
    """Queue one delivery of the alert's current state; a delivery already queued covers this change too."""
    session.flush()
    _enqueue_ids(session, alert.id, alert.channel, now)


def _enqueue_ids(session: Session, alert_id: int, channel: str, now: datetime) -> None:
    # INSERT … ON CONFLICT DO NOTHING: a concurrent delivery queuing the same alert waits and skips
    # instead of failing the whole batch on the unique pending_key.
    insert_ignoring_duplicates(session, OutboxMessage, {
        "alert_id": alert_id, "channel": channel, "pending_key": f"alert:{alert_id}", "created_at": now,
        "not_before": now, "attempts": 0}, key=["pending_key"])
