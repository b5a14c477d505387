"""What people do to an alert: acknowledge, resolve, silence, escalate. Each change queues a card update.

`Alerts` is what commands call: one transaction per call, at the clock's time."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import incidents
from bot.alerts.model import AlertEvent
from bot.alerts.pipeline import Ingested, enqueue, ingest
from bot.clock import Clock
from bot.config import OpsConfig
from bot.errors import ConflictError, NotFoundError
from bot.storage.db import session_scope
from bot.storage.models import Alert, AlertStatus


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: int
    source: str
    title: str
    severity: str
    status: str
    service: str | None
    reason: str | None
    runbook_url: str | None
    channel: str
    count: int
    first_seen: datetime
    last_seen: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    silenced_until: datetime | None
    escalation_step: int
    escalated_to: str | None
    summarized: bool
    incident_id: int | None
    notified_at: datetime | None


def record(row: Alert) -> AlertRecord:
    return AlertRecord(
        id=row.id, source=row.source, title=row.title, severity=row.severity, status=row.status,
        service=row.service, reason=row.reason, runbook_url=row.runbook_url, channel=row.channel, count=row.count,
        first_seen=row.first_seen, last_seen=row.last_seen, acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by, resolved_at=row.resolved_at, resolved_by=row.resolved_by,
        silenced_until=row.silenced_until, escalation_step=row.escalation_step, escalated_to=row.escalated_to,
        summarized=row.summarized,
        incident_id=row.incident_id, notified_at=row.notified_at,
    )


def _load(session: Session, alert_id: int) -> Alert:
    row = session.scalars(select(Alert).where(Alert.id == alert_id).with_for_update()).one_or_none()
    if row is None:
        raise NotFoundError(f"There is no alert #{alert_id}. `/ops alert list` shows the live ones.")
    return row


def get(*, session: Session, alert_id: int) -> AlertRecord:
    """The alert as it is now, for reading (no row lock: a change made meanwhile queues its own redraw)."""
    row = session.get(Alert, alert_id)
    if row is None:
        raise NotFoundError(f"There is no alert #{alert_id}. `/ops alert list` shows the live ones.")
    return record(row)


def live(*, session: Session, limit: int = 20) -> list[AlertRecord]:
    stmt = select(Alert).where(Alert.status != AlertStatus.RESOLVED.value).order_by(Alert.severity, Alert.id)
    return [record(r) for r in session.scalars(stmt.limit(limit))]


def acknowledge(*, session: Session, alert_id: int, user: str, at: datetime) -> AlertRecord:
    row = _load(session, alert_id)
    if row.status == AlertStatus.RESOLVED:
        raise ConflictError(f"Alert #{row.id} is already resolved.")
    if row.status == AlertStatus.ACKNOWLEDGED:
        raise ConflictError(f"Alert #{row.id} was already acknowledged by <@{row.acknowledged_by}> "
                            f"at {row.acknowledged_at:%H:%M} UTC.")
    row.status, row.acknowledged_at, row.acknowledged_by = AlertStatus.ACKNOWLEDGED.value, at, user
    row.next_escalation_at = None
    if row.incident_id is not None:
        _ack_incident(session, row.incident_id, user, at)
    enqueue(session, row, at)
    return record(row)


def _ack_incident(session: Session, incident_id: int, user: str, at: datetime) -> None:
    current = incidents.get(session=session, incident_id=incident_id)
    if current.status == "open":
        incidents.acknowledge(session=session, incident_id=incident_id, user=user, at=at)


def resolve(*, session: Session, alert_id: int, user: str, at: datetime) -> AlertRecord:
    row = _load(session, alert_id)
    if row.status == AlertStatus.RESOLVED:
        raise ConflictError(f"Alert #{row.id} was already resolved by <@{row.resolved_by}>.")
    row.status, row.active_key, row.next_escalation_at = AlertStatus.RESOLVED.value, None, None
    row.resolved_at, row.resolved_by = at, user
    if row.acknowledged_at is None:
        row.acknowledged_at, row.acknowledged_by = at, user
    if row.incident_id is not None:
        incidents.add_event(session=session, incident_id=row.incident_id, at=at, kind="alert resolved", actor=user,
                            note=f"alert #{row.id} resolved by hand")
    enqueue(session, row, at)
    return record(row)


def silence(*, session: Session, alert_id: int, user: str, at: datetime, for_: timedelta) -> AlertRecord:
    """Silence this one alert (not its group): repeats are counted but do not notify until the time passes."""
    row = _load(session, alert_id)
    if row.status == AlertStatus.RESOLVED:
        raise ConflictError(f"Alert #{row.id} is resolved; nothing to silence.")
    row.silenced_until = at + for_
    enqueue(session, row, at)
    return record(row)


def escalate(*, session: Session, alert_id: int, user: str, at: datetime, from_step: int | None = None,
             steps: int = 0) -> AlertRecord:
    """Take the next escalation step now, or repeat the policy from step `from_step` (1-based, of `steps`)."""
    row = _load(session, alert_id)
    if row.status == AlertStatus.RESOLVED:
        raise ConflictError(f"Alert #{row.id} is resolved; nothing to escalate.")
    if from_step is not None:
        if not 1 <= from_step <= steps:
            raise ConflictError(f"Alert #{row.id}'s escalation policy has {steps} step(s); "
                                f"there is no step {from_step}.")
        row.escalation_step = from_step - 1
    if row.incident_id is not None:
        incidents.add_event(session=session, incident_id=row.incident_id, at=at, kind="escalated", actor=user,
                            note=f"alert #{row.id} escalated by hand")
    row.next_escalation_at = at              # the escalator takes the (next) step now
    return record(row)


def mark_notified(*, session: Session, alert_id: int, at: datetime) -> None:
    """The alert's own card reached its channel (storms count these)."""
    row = session.get(Alert, alert_id)
    if row is not None and row.notified_at is None:
        row.notified_at = at


class Alerts:
    """The alert service for commands: each call is one transaction, at the clock's time."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, config: OpsConfig) -> None:
        self.sessions, self.clock, self.config = sessions, clock, config

    def ingest(self, events: list[AlertEvent], *, receipt: str | None = None) -> Ingested:
        """Store a delivery's events (see bot.alerts.pipeline); `receipt` names the delivery (a retry of it
        repeats the name), None when the sender gives nothing to recognize a retry by."""
        return ingest(sessions=self.sessions, clock=self.clock, config=self.config, events=events, receipt=receipt)

    def acknowledge(self, alert_id: int, *, user: str) -> AlertRecord:
        with session_scope(self.sessions) as session:
            return acknowledge(session=session, alert_id=alert_id, user=user, at=self.clock())

    def resolve(self, alert_id: int, *, user: str) -> AlertRecord:
        with session_scope(self.sessions) as session:
            return resolve(session=session, alert_id=alert_id, user=user, at=self.clock())

    def silence(self, alert_id: int, *, user: str, for_: timedelta) -> AlertRecord:
        with session_scope(self.sessions) as session:
            return silence(session=session, alert_id=alert_id, user=user, at=self.clock(), for_=for_)

    def escalate(self, alert_id: int, *, user: str, from_step: int | None = None) -> AlertRecord:
        with session_scope(self.sessions) as session:
            policy = self.config.alerts.escalation.get(get(session=session, alert_id=alert_id).severity)
            return escalate(session=session, alert_id=alert_id, user=user, at=self.clock(), from_step=from_step,
                            steps=len(policy.steps) if policy else 0)

    def live(self, *, limit: int = 20) -> list[AlertRecord]:
        with session_scope(self.sessions) as session:
            return live(session=session, limit=limit)

    def get(self, alert_id: int) -> AlertRecord:
        with session_scope(self.sessions) as session:
            return get(session=session, alert_id=alert_id)
