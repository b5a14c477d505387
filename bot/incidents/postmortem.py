"""What a postmortem is written from: everything the database knows about one incident.

`gather()` reads its timeline (opened, acknowledged, escalated, notes, resolved), the alerts that fired for it
(those linked to it, and those of its service that fired while it was open), and the operations asked for on
its service meanwhile (pending_actions: who asked for what change, who confirmed it, how it ended). The
document is rendered from that record by bot.incidents.postmortem_doc.

Writing the document (Slack, a directory, S3) is the caller's; `record_written()` puts a `postmortem` line on
the timeline, which stops the reminders (bot.alerts.postmortem_reminders) and the card's request for one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.incidents import POSTMORTEM, IncidentRecord, add_event, get
from bot.storage.db import session_scope
from bot.storage.models import Alert, Notice, PendingAction
from integrations.base import PLAN

REMINDER_KEY = "pm:{incident}:"   # notices reminding people of a postmortem start with this (see reminders)


@dataclass(frozen=True, slots=True)
class AlertLine:
    id: int
    title: str
    severity: str
    source: str
    service: str | None
    count: int
    first_seen: datetime
    last_seen: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None


@dataclass(frozen=True, slots=True)
class OperationLine:
    id: str
    kind: str
    subject: str
    target: str
    current: str
    desired: str
    state: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    approvers: tuple[str, ...]
    finished_at: datetime | None
    outcome: str | None


@dataclass(frozen=True, slots=True)
class PostmortemRecord:
    incident: IncidentRecord
    alerts: tuple[AlertLine, ...]
    operations: tuple[OperationLine, ...]
    as_of: datetime                     # when it was gathered: the end of an incident still open


def gather(*, session: Session, incident_id: int, now: datetime) -> PostmortemRecord:
    incident = get(session=session, incident_id=incident_id)
    end = incident.resolved_at or now
    linked = Alert.incident_id == incident.id
    same_service = (Alert.service == incident.service) & (Alert.first_seen >= incident.opened_at) \
        & (Alert.first_seen <= end) if incident.service else None
    alerts = session.scalars(select(Alert).where(or_(linked, same_service) if same_service is not None else linked)
                             .order_by(Alert.first_seen, Alert.id)).all()
    operations = session.scalars(select(PendingAction).where(
        PendingAction.subject == incident.service, PendingAction.requested_at >= incident.opened_at,
        PendingAction.requested_at <= end).order_by(PendingAction.requested_at, PendingAction.id)
    ).all() if incident.service else []
    return PostmortemRecord(
        incident=incident, as_of=now,
        alerts=tuple(AlertLine(a.id, a.title, a.severity, a.source, a.service, a.count, a.first_seen, a.last_seen,
                               a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by) for a in alerts),
        operations=tuple(_operation(o) for o in operations),
    )


def _operation(row: PendingAction) -> OperationLine:
    plan = PLAN.validate_json(row.plan)
    return OperationLine(id=row.id, kind=row.kind, subject=row.subject, target=plan.target, current=plan.current,
                         desired=plan.desired, state=row.state, requested_by=row.requested_by,
                         requested_at=row.requested_at, decided_by=row.decided_by, decided_at=row.decided_at,
                         approvers=tuple(a.user_id for a in row.approvals), finished_at=row.finished_at,
                         outcome=row.outcome)


def record_written(*, session: Session, incident_id: int, user: str, at: datetime, where: str) -> None:
    """A `postmortem` line on the timeline; reminders still waiting to be sent are dropped."""
    add_event(session=session, incident_id=incident_id, at=at, kind=POSTMORTEM, actor=user, note=where)
    prefix = REMINDER_KEY.format(incident=incident_id)
    session.execute(update(Notice).where(Notice.key.startswith(prefix, autoescape=True), Notice.done_at.is_(None))
                    .values(done_at=at, last_error="not sent: the postmortem was written")
                    .execution_options(synchronize_session=False))


class Postmortems:
    """The postmortem service for commands: each call one transaction, at the clock's time."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions, self.clock = sessions, clock

    def gather(self, incident_id: int) -> PostmortemRecord:
        with session_scope(self.sessions) as session:
            return gather(session=session, incident_id=incident_id, now=self.clock())

    def written(self, *, incident_id: int, user: str, where: str) -> IncidentRecord:
        with session_scope(self.sessions) as session:
            record_written(session=session, incident_id=incident_id, user=user, at=self.clock(), where=where)
            return get(session=session, incident_id=incident_id)
