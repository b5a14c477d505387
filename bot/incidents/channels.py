"""Incident channels as rows: asking for one, archiving it, and the steps the Slack layer records on the way.

An incident has at most one channel (`incident_channels`, keyed by the incident): asking twice, from two
replicas or after a crash, asks once. Its life:

    creating ──(created or found, people invited, card posted and pinned)──> ready ──(Archive)──> archiving
        │                                                                                           │
        └──(Slack refused it for good: `failed`; `/ops incident channel <id>` asks again)          archived

The Slack side (bot.slack.incident_channels) claims a row for a pass (`claimed_until`, a compare-and-set),
does the next step and records it here; the timeline is mirrored through `mirrored_through`, the id of the
last timeline event queued for the channel.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.errors import ConflictError, NotFoundError
from bot.incidents import IncidentRecord, open_incident
from bot.incidents import get as get_incident
from bot.incidents.card import ref as incident_ref
from bot.reply import CardRef
from bot.storage.db import insert_ignoring_duplicates, session_scope
from bot.storage.models import IncidentChannel, IncidentEvent, IncidentStatus

NAME_MAX = 80                    # Slack's limit for a channel name
CLAIM_FOR = timedelta(minutes=2)  # a pass: creating, a few invitations, posting and pinning (each call ≤ 10 s)


class State:
    CREATING = "creating"
    READY = "ready"
    FAILED = "failed"
    ARCHIVING = "archiving"
    ARCHIVED = "archived"


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    incident_id: int
    name: str
    channel_id: str | None
    state: str
    requested_by: str
    origin_channel: str | None
    origin_thread: str | None
    create_started_at: datetime | None
    invited_at: datetime | None
    pinned_at: datetime | None
    mirrored_through: int
    archive_requested_by: str | None
    archived_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    id: int
    at: datetime
    kind: str
    actor: str
    note: str | None


def _record(row: IncidentChannel) -> ChannelRecord:
    return ChannelRecord(
        incident_id=row.incident_id, name=row.name, channel_id=row.channel_id, state=row.state,
        requested_by=row.requested_by, origin_channel=row.origin_channel, origin_thread=row.origin_thread,
        create_started_at=row.create_started_at, invited_at=row.invited_at, pinned_at=row.pinned_at,
        mirrored_through=row.mirrored_through, archive_requested_by=row.archive_requested_by,
        archived_at=row.archived_at, last_error=row.last_error)


def channel_name(incident_id: int, title: str, *, prefix: str, taken: int = 0) -> str:
    """`<prefix>-<id>-<slug>`: the title in lower-case ASCII letters and digits joined by hyphens, cut so the
    whole name fits Slack's 80 characters; `taken` names already taken add `-2`, `-3`… at the end."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title).strip("-")
    head, tail = f"{prefix}-{incident_id}", f"-{taken + 1}" if taken else ""
    room = NAME_MAX - len(head) - len(tail) - 1
    slug = slug[:max(room, 0)].rstrip("-")
    return f"{head}-{slug}{tail}" if slug else f"{head}{tail}"


def request(*, session: Session, incident_id: int, title: str, prefix: str, requested_by: str, at: datetime,
            origin_channel: str | None, origin_thread: CardRef | None) -> ChannelRecord:
    """Ask for the incident's channel (a second request changes nothing; one that failed is tried again)."""
    insert_ignoring_duplicates(session, IncidentChannel, {
        "incident_id": incident_id, "name": channel_name(incident_id, title, prefix=prefix),
        "state": State.CREATING, "requested_by": requested_by, "requested_at": at,
        "origin_channel": origin_channel, "origin_thread": str(origin_thread) if origin_thread else None,
        "mirrored_through": 0, "not_before": at, "attempts": 0}, key=["incident_id"])
    session.execute(update(IncidentChannel).where(IncidentChannel.incident_id == incident_id,
                                                  IncidentChannel.state == State.FAILED)
                    .values(state=State.CREATING, not_before=at, attempts=0, last_error=None,
                            requested_by=requested_by).execution_options(synchronize_session=False))
    return get(session=session, incident_id=incident_id)


def request_many(*, session: Session, items: Sequence[tuple[int, str, str, CardRef]], prefix: str,
                 requested_by: str, at: datetime) -> None:
    """Ask for channels of incidents just opened: (incident id, title, where it was announced, under which card)."""
    for incident_id, title, channel, thread in items:
        request(session=session, incident_id=incident_id, title=title, prefix=prefix, requested_by=requested_by,
                at=at, origin_channel=channel, origin_thread=thread)


def get(*, session: Session, incident_id: int) -> ChannelRecord:
    row = session.get(IncidentChannel, incident_id, populate_existing=True)
    if row is None:
        raise NotFoundError(f"Incident #{incident_id} has no channel. `/ops incident channel {incident_id}` "
                            "makes one.")
    return _record(row)


def find(*, session: Session, incident_id: int) -> ChannelRecord | None:
    row = session.get(IncidentChannel, incident_id, populate_existing=True)
    return _record(row) if row is not None else None


def request_archive(*, session: Session, incident_id: int, user: str, at: datetime) -> ChannelRecord:
    """Ask for the channel of a resolved incident to be archived, once (a compare-and-set from `ready`)."""
    room = get(session=session, incident_id=incident_id)
    incident = get_incident(session=session, incident_id=incident_id)
    if incident.status != IncidentStatus.RESOLVED:
        raise ConflictError(f"Incident #{incident_id} is not resolved yet: resolve it before archiving "
                            f"#{room.name}.")
    if room.state in (State.ARCHIVING, State.ARCHIVED):
        raise ConflictError(f"#{room.name} was already archived by <@{room.archive_requested_by}>.")
    if room.state != State.READY:
        raise ConflictError(f"#{room.name} is not ready ({room.state}); there is nothing to archive yet.")
    taken = session.execute(update(IncidentChannel).where(IncidentChannel.incident_id == incident_id,
                                                          IncidentChannel.state == State.READY)
                            .values(state=State.ARCHIVING, archive_requested_by=user, not_before=at, attempts=0)
                            .execution_options(synchronize_session=False))
    if not taken.rowcount:  # type: ignore[attr-defined]
        raise ConflictError(f"#{room.name} is being archived already.")
    return get(session=session, incident_id=incident_id)


# --- the Slack layer's steps ---------------------------------------------------------------------------------

def due(*, session: Session, now: datetime, limit: int = 50) -> list[int]:
    """Incidents whose channel has a step to take now: to create, to archive, or timeline to mirror."""
    unmirrored = exists().where(IncidentEvent.incident_id == IncidentChannel.incident_id,
                                IncidentEvent.id > IncidentChannel.mirrored_through)
    rows = session.scalars(select(IncidentChannel.incident_id).where(
        IncidentChannel.state.in_((State.CREATING, State.ARCHIVING)) | ((IncidentChannel.state == State.READY)
                                                                        & unmirrored),
        IncidentChannel.not_before <= now,
        IncidentChannel.claimed_until.is_(None) | (IncidentChannel.claimed_until < now))
        .order_by(IncidentChannel.incident_id).limit(limit))
    return list(rows)


def claim(*, session: Session, incident_id: int, now: datetime) -> ChannelRecord | None:
    """Make the next pass over this channel ours (None: another replica has it)."""
    claimed = session.execute(update(IncidentChannel).where(
        IncidentChannel.incident_id == incident_id,
        IncidentChannel.claimed_until.is_(None) | (IncidentChannel.claimed_until < now))
        .values(claimed_until=now + CLAIM_FOR).execution_options(synchronize_session=False))
    if not claimed.rowcount:  # type: ignore[attr-defined]
        return None
    return get(session=session, incident_id=incident_id)


def save(*, session: Session, incident_id: int, release: bool = False, **values: Any) -> None:
    """Record a step (column values of `incident_channels`); `release` ends this pass's claim."""
    if release:
        values["claimed_until"] = None
    session.execute(update(IncidentChannel).where(IncidentChannel.incident_id == incident_id).values(**values)
                    .execution_options(synchronize_session=False))


def retry_later(*, session: Session, incident_id: int, error: str, at: datetime) -> int:
    """Release the claim and wait until `at`; the number of attempts so far."""
    row = session.get(IncidentChannel, incident_id)
    if row is None:
        return 0
    row.attempts += 1
    row.last_error, row.not_before, row.claimed_until = error[:200], at, None
    return row.attempts


def mirrored(*, session: Session, incident_id: int, was: int, through: int) -> bool:
    """Advance the mirror's cursor from `was` (False if another pass moved it first) and release the claim."""
    moved = session.execute(update(IncidentChannel).where(IncidentChannel.incident_id == incident_id,
                                                          IncidentChannel.mirrored_through == was)
                            .values(mirrored_through=through, claimed_until=None, attempts=0, last_error=None)
                            .execution_options(synchronize_session=False))
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def events_after(*, session: Session, incident_id: int, after: int, limit: int = 50) -> Sequence[TimelineEntry]:
    rows = session.execute(select(IncidentEvent.id, IncidentEvent.at, IncidentEvent.kind, IncidentEvent.actor,
                                  IncidentEvent.note)
                           .where(IncidentEvent.incident_id == incident_id, IncidentEvent.id > after)
                           .order_by(IncidentEvent.id).limit(limit))
    return [TimelineEntry(r.id, r.at, r.kind, r.actor, r.note) for r in rows]


class IncidentChannels:
    """Incident channels for commands: each call one transaction, at the clock's time."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions, self.clock = sessions, clock

    def open(self, *, title: str, severity: str, opened_by: str, service: str | None, prefix: str,
             origin_channel: str | None) -> tuple[IncidentRecord, ChannelRecord]:
        """Open an incident and ask for its channel, in one transaction."""
        with session_scope(self.sessions) as session:
            now = self.clock()
            incident = open_incident(session=session, title=title, severity=severity, opened_by=opened_by, at=now,
                                     service=service)
            room = request(session=session, incident_id=incident.id, title=title, prefix=prefix,
                           requested_by=opened_by, at=now,
                           origin_channel=origin_channel, origin_thread=incident_ref(incident.id))
            return incident, room

    def request(self, *, incident_id: int, prefix: str, requested_by: str,
                origin_channel: str | None) -> tuple[ChannelRecord, bool]:
        """Ask for an existing incident's channel; (its channel, whether this asked for it)."""
        with session_scope(self.sessions) as session:
            incident = get_incident(session=session, incident_id=incident_id)
            before = find(session=session, incident_id=incident_id)
            if before is not None and before.state != State.FAILED:
                return before, False
            if incident.status == IncidentStatus.RESOLVED:
                raise ConflictError(f"Incident #{incident_id} is resolved; it needs no channel now.")
            room = request(session=session, incident_id=incident_id, title=incident.title, prefix=prefix,
                           requested_by=requested_by, at=self.clock(), origin_channel=origin_channel,
                           origin_thread=incident_ref(incident_id))
            return room, True

    def archive(self, *, incident_id: int, user: str) -> ChannelRecord:
        with session_scope(self.sessions) as session:
            return request_archive(session=session, incident_id=incident_id, user=user, at=self.clock())

    def find(self, incident_id: int) -> ChannelRecord | None:
        with session_scope(self.sessions) as session:
            return find(session=session, incident_id=incident_id)

    def incident_of(self, channel_id: str) -> int | None:
        """The incident whose own channel `channel_id` is, if it is one."""
        with session_scope(self.sessions) as session:
            found = session.scalar(select(IncidentChannel.incident_id).where(IncidentChannel.channel_id == channel_id))
            return int(found) if found is not None else None
