"""Incidents and their timelines: open, acknowledge, resolve, list. Every change appends a timeline event.

`add_event()` (`add_events()` for many at once) is the one writer of timeline rows: alerts, escalation and
operations note what they did to an incident through it. Service functions take the session keyword-only
and return frozen records, so callers never hold ORM objects past the session that loaded them; `Incidents`
(on the runtime) wraps each in its own transaction for commands.
The incident's card is rendered by `bot.incidents.card`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.errors import ConflictError, NotFoundError
from bot.storage.bulk import insert_many
from bot.storage.db import session_scope
from bot.storage.models import Incident, IncidentEvent, IncidentStatus, Severity

SEVERITIES = tuple(s.value for s in Severity)
TITLE_MAX = 200
NOTE_MAX = 3000                  # a timeline note, or a resolve note (cards show the start of it)
NOTE = "note"                    # the timeline kind of a free-form note
POSTMORTEM = "postmortem"        # the timeline kind recording that a postmortem was written
POSTMORTEM_DUE = ("P1",)         # resolving an incident of these severities asks for a postmortem


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    at: datetime
    kind: str
    actor: str
    note: str | None


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    id: int
    title: str
    severity: str
    status: str
    service: str | None
    opened_at: datetime
    opened_by: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    timeline: tuple[TimelineEvent, ...]


def time_to_acknowledge(opened_at: datetime, acknowledged_at: datetime | None) -> timedelta | None:
    """How long an incident waited for someone to own it: the term MTTA averages (schedules.weekly_report)."""
    return None if acknowledged_at is None else acknowledged_at - opened_at


def time_to_resolve(opened_at: datetime, resolved_at: datetime | None) -> timedelta | None:
    """How long an incident lasted, opened to resolved: the term MTTR averages (schedules.weekly_report)."""
    return None if resolved_at is None else resolved_at - opened_at


def postmortem_written(r: IncidentRecord) -> TimelineEvent | None:
    """The newest postmortem written after the incident was resolved (None: none yet, or it is not resolved; a
    draft written while it was open does not count)."""
    if r.resolved_at is None:
        return None
    written = None
    for event in r.timeline:                    # in the order they were written
        if event.kind == "resolved":
            written = None
        elif event.kind == POSTMORTEM:
            written = event
    return written


def postmortem_due(r: IncidentRecord) -> bool:
    """A resolved incident of a severity that asks for a postmortem, with none written since it was resolved."""
    return r.status == IncidentStatus.RESOLVED and r.severity in POSTMORTEM_DUE and postmortem_written(r) is None


def _record(row: Incident) -> IncidentRecord:
    return IncidentRecord(
        id=row.id, title=row.title, severity=row.severity, status=row.status, service=row.service,
        opened_at=row.opened_at, opened_by=row.opened_by,
        acknowledged_at=row.acknowledged_at, acknowledged_by=row.acknowledged_by,
        resolved_at=row.resolved_at, resolved_by=row.resolved_by,
        timeline=tuple(TimelineEvent(e.at, e.kind, e.actor, e.note) for e in row.events),
    )


def _load(session: Session, incident_id: int, *, for_update: bool = False) -> Incident:
    stmt = select(Incident).where(Incident.id == incident_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).one_or_none()
    if row is None:
        raise NotFoundError(f"There is no incident #{incident_id}. `/ops incident list all` shows them all.")
    return row


def open_incident(
    *, session: Session, title: str, severity: str, opened_by: str, at: datetime, service: str | None = None
) -> IncidentRecord:
    row = Incident(
        title=title, severity=severity, status=IncidentStatus.OPEN.value, service=service,
        opened_at=at, opened_by=opened_by,
    )
    session.add(row)
    session.flush()
    add_event(session=session, incident_id=row.id, at=at, kind="opened", actor=opened_by, note=f"{severity}: {title}")
    return _record(row)


def open_many(*, session: Session, opened_by: str, at: datetime,
              items: Sequence[tuple[str, str, str | None]]) -> list[int]:
    """Open one incident per (title, severity, service) with a few statements, each with its "opened" event
    as `open_incident` writes it; their ids, in order."""
    if not items:
        return []
    table: Table = Incident.__table__  # type: ignore[assignment]
    rows = [{"title": title, "severity": severity, "status": IncidentStatus.OPEN.value, "service": service,
             "opened_at": at, "opened_by": opened_by} for title, severity, service in items]
    ids = insert_many(session, table, rows, returning_ids=True)
    add_events(session=session, at=at, actor=opened_by, events=[
        (incident_id, "opened", f"{severity}: {title}")
        for incident_id, (title, severity, _) in zip(ids, items, strict=True)])
    return ids


def acknowledge(*, session: Session, incident_id: int, user: str, at: datetime) -> IncidentRecord:
    row = _load(session, incident_id, for_update=True)
    if row.status == IncidentStatus.RESOLVED:
        raise ConflictError(f"Incident #{row.id} is already resolved (by <@{row.resolved_by}>).")
    if row.status == IncidentStatus.ACKNOWLEDGED:
        raise ConflictError(
            f"Incident #{row.id} was already acknowledged by <@{row.acknowledged_by}> "
            f"at {row.acknowledged_at:%H:%M} UTC."
        )
    row.status = IncidentStatus.ACKNOWLEDGED.value
    row.acknowledged_at, row.acknowledged_by = at, user
    add_event(session=session, incident_id=row.id, at=at, kind="acknowledged", actor=user)
    return _record(row)


def resolve(*, session: Session, incident_id: int, user: str, at: datetime, note: str | None = None) -> IncidentRecord:
    row = _load(session, incident_id, for_update=True)
    if row.status == IncidentStatus.RESOLVED:
        raise ConflictError(f"Incident #{row.id} was already resolved by <@{row.resolved_by}>.")
    if row.acknowledged_at is None:
        # Resolving implies someone owned it; record that so time-to-acknowledge is never missing.
        row.acknowledged_at, row.acknowledged_by = at, user
    row.status = IncidentStatus.RESOLVED.value
    row.resolved_at, row.resolved_by = at, user
    add_event(session=session, incident_id=row.id, at=at, kind="resolved", actor=user, note=note)
    return _record(row)


def add_note(*, session: Session, incident_id: int, user: str, at: datetime, text: str) -> IncidentRecord:
    """A free-form line on the timeline, open or resolved (a cause found later belongs in the postmortem too)."""
    row = _load(session, incident_id)
    add_event(session=session, incident_id=row.id, at=at, kind=NOTE, actor=user, note=text[:NOTE_MAX])
    return _record(row)


def get(*, session: Session, incident_id: int) -> IncidentRecord:
    return _record(_load(session, incident_id))


def list_incidents(*, session: Session, include_resolved: bool, limit: int = 20) -> Sequence[IncidentRecord]:
    stmt = select(Incident).order_by(Incident.id.desc()).limit(limit)
    if not include_resolved:
        stmt = stmt.where(Incident.status != IncidentStatus.RESOLVED.value)
    return [_record(row) for row in session.scalars(stmt)]


def add_event(*, session: Session, incident_id: int, at: datetime, kind: str, actor: str,
              note: str | None = None) -> None:
    """Append one line to an incident's timeline (the only place timeline rows are written)."""
    row = session.get(Incident, incident_id)
    if row is None:
        return
    row.events.append(IncidentEvent(at=at, kind=kind, actor=actor, note=note))
    session.flush()


def add_events(*, session: Session, at: datetime, actor: str, events: Sequence[tuple[int, str, str | None]]) -> None:
    """Append (incident id, kind, note) lines to timelines in one statement (an incident already loaded in
    `session` does not see them in `.events` until it is refreshed)."""
    if events:
        table: Table = IncidentEvent.__table__  # type: ignore[assignment]
        insert_many(session, table, [{"incident_id": incident_id, "at": at, "kind": kind, "actor": actor,
                                         "note": note} for incident_id, kind, note in events])


def note_for_service(*, session: Session, service: str, kind: str, actor: str, note: str, at: datetime) -> list[int]:
    """Add a timeline event to every unresolved incident of `service`; returns their ids."""
    ids = session.scalars(select(Incident.id).where(
        Incident.service == service, Incident.status != IncidentStatus.RESOLVED.value)).all()
    for incident_id in ids:
        add_event(session=session, incident_id=incident_id, at=at, kind=kind, actor=actor, note=note)
    return list(ids)


class Incidents:
    """The incident service for commands: each call is one transaction, at the clock's time."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions, self.clock = sessions, clock

    def open(self, *, title: str, severity: str, opened_by: str, service: str | None = None) -> IncidentRecord:
        with session_scope(self.sessions) as session:
            return open_incident(session=session, title=title, severity=severity, opened_by=opened_by,
                                 at=self.clock(), service=service)

    def acknowledge(self, *, incident_id: int, user: str) -> IncidentRecord:
        with session_scope(self.sessions) as session:
            return acknowledge(session=session, incident_id=incident_id, user=user, at=self.clock())

    def resolve(self, *, incident_id: int, user: str, note: str | None = None) -> IncidentRecord:
        with session_scope(self.sessions) as session:
            return resolve(session=session, incident_id=incident_id, user=user, at=self.clock(), note=note)

    def note(self, *, incident_id: int, user: str, text: str) -> IncidentRecord:
        with session_scope(self.sessions) as session:
            return add_note(session=session, incident_id=incident_id, user=user, at=self.clock(), text=text)

    def get(self, incident_id: int) -> IncidentRecord:
        with session_scope(self.sessions) as session:
            return get(session=session, incident_id=incident_id)

    def recent(self, *, include_resolved: bool, limit: int = 20) -> Sequence[IncidentRecord]:
        with session_scope(self.sessions) as session:
            return list_incidents(session=session, include_resolved=include_resolved, limit=limit)
