"""Alert storms: past `storm_threshold` new cards in a channel within a window, further alerts are folded
into one summary message per channel instead of a message each. Folded alerts are still stored, counted,
escalated and listed by `/ops alert list`; only their own Slack card is skipped.

A summary stays dirty until a send of its newest version succeeded: a worker claims it for a while, and a
crash or a failed send leaves it to be sent again (the Board posts it once; later sends update it)."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.delivery import CLAIM_FOR
from bot.storage.db import insert_ignoring_duplicates
from bot.storage.models import Alert, AlertStatus, OutboxMessage, StormSummary

WINDOW = timedelta(minutes=5)


def fold_excess(*, session: Session, channel: str, threshold: int, now: datetime) -> int:
    """Fold the alerts of `channel` waiting for a first card beyond this window's allowance; how many."""
    recent = session.scalar(select(func.count(Alert.id)).where(
        Alert.channel == channel, Alert.notified_at.is_not(None), Alert.summarized.is_(False),
        Alert.first_seen >= now - WINDOW)) or 0
    waiting = session.execute(
        select(OutboxMessage.id, OutboxMessage.alert_id).join(Alert, Alert.id == OutboxMessage.alert_id)
        .where(OutboxMessage.channel == channel, OutboxMessage.sent_at.is_(None), Alert.notified_at.is_(None),
               Alert.summarized.is_(False))
        .order_by(OutboxMessage.alert_id)).all()
    excess = waiting[max(threshold - recent, 0):]
    if not excess:
        return 0
    session.execute(update(Alert).where(Alert.id.in_([a for _, a in excess])).values(summarized=True)
                    .execution_options(synchronize_session=False))
    session.execute(update(OutboxMessage).where(OutboxMessage.id.in_([r for r, _ in excess]))
                    .values(sent_at=now, pending_key=None, last_error="summarized")
                    .execution_options(synchronize_session=False))
    mark_dirty(session=session, channel=channel, now=now)
    return len(excess)


def mark_dirty(*, session: Session, channel: str, now: datetime) -> None:
    """The channel's summary must be shown again (a new version of it)."""
    insert_ignoring_duplicates(session, StormSummary, {"channel": channel, "dirty": True, "updated_at": now,
                                                       "version": 0}, key=["channel"])
    session.execute(update(StormSummary).where(StormSummary.channel == channel)
                    .values(dirty=True, updated_at=now, version=StormSummary.version + 1)
                    .execution_options(synchronize_session=False))


def claim_dirty(*, session: Session, channel: str, now: datetime) -> int | None:
    """Claim the channel's dirty summary for CLAIM_FOR; the version claimed, or None if it is not ours to send."""
    version = session.scalar(
        update(StormSummary).where(StormSummary.channel == channel, StormSummary.dirty.is_(True),
                                   (StormSummary.claimed_until.is_(None)) | (StormSummary.claimed_until < now))
        .values(claimed_until=now + CLAIM_FOR).returning(StormSummary.version)
        .execution_options(synchronize_session=False))
    return None if version is None else int(version)


def shown(*, session: Session, channel: str, version: int | None) -> None:
    """Release the claim; the summary is clean if `version` (None: nothing) was shown and nothing changed since."""
    clean = StormSummary.version != version if version is not None else StormSummary.dirty
    session.execute(update(StormSummary).where(StormSummary.channel == channel)
                    .values(dirty=clean, claimed_until=None).execution_options(synchronize_session=False))


def dirty_channels(*, session: Session, now: datetime | None = None) -> list[str]:
    """Channels whose summary must be shown again (only those no worker has claimed at `now`, when given)."""
    query = select(StormSummary.channel).where(StormSummary.dirty.is_(True))
    if now is not None:
        query = query.where((StormSummary.claimed_until.is_(None)) | (StormSummary.claimed_until < now))
    return list(session.scalars(query))


def tally(*, session: Session, channel: str) -> tuple[Counter[str], Counter[str], int]:
    """(live folded alerts by service, by severity, folded in total) for a channel's summary: counted by the
    database in one query, not read row by row (a channel's folded alerts only grow)."""
    by_service: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    total = 0
    for service, severity, status, n in session.execute(
            select(Alert.service, Alert.severity, Alert.status, func.count(Alert.id))
            .where(Alert.channel == channel, Alert.summarized.is_(True))
            .group_by(Alert.service, Alert.severity, Alert.status)):
        total += n
        if status != AlertStatus.RESOLVED.value:
            by_service[service or "no service"] += n
            by_severity[severity] += n
    return by_service, by_severity, total
