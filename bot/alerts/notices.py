"""Notices: messages to people that must arrive, once each — a line in a card's thread, a direct message.

Each is one row, queued in the transaction that decided it (an escalation step queues one per target), and
sent by the outbox like a card: claimed before sending, retried by its policy when it fails, and posted at most
once through the Board's `key` (a crash between posting and recording it does not post it again). One
target's failure leaves the others alone; a refusal (the bot was removed from the channel, the user is gone)
is final and logged.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.delivery import CLAIM_FOR, Board, DeliveryError, RetryPolicy
from bot.reply import CardKind, CardRef, text_reply
from bot.storage.db import insert_ignoring_duplicates
from bot.storage.models import Notice

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Queued:
    id: int
    key: str
    channel: str | None
    thread: str | None
    user: str | None
    text: str

    @property
    def pace(self) -> str:
        """What Slack paces this message by: its channel (a user's IM channel for a direct message)."""
        return self.channel or f"@{self.user}"


def queue(session: Session, *, key: str, text: str, now: datetime, channel: str | None = None,
          thread: CardRef | None = None, user: str | None = None) -> None:
    """Queue one notice (a second one with the same key is ignored): to `user` directly, or in `channel`
    (under the `thread` card when it was posted)."""
    insert_ignoring_duplicates(session, Notice, {
        "key": key[:64], "channel": channel, "thread": str(thread) if thread else None, "user": user,
        "text": text, "created_at": now, "not_before": now, "attempts": 0}, key=["key"])


def due(*, session: Session, now: datetime, limit: int) -> list[Queued]:
    rows = session.execute(select(Notice.id, Notice.key, Notice.channel, Notice.thread, Notice.user, Notice.text)
                           .where(Notice.done_at.is_(None), Notice.not_before <= now,
                                  (Notice.claimed_until.is_(None)) | (Notice.claimed_until < now))
                           .order_by(Notice.id).limit(limit)).all()
    return [Queued(r.id, r.key, r.channel, r.thread, r.user, r.text) for r in rows]


def claim(*, session: Session, notice_id: int, now: datetime) -> bool:
    claimed = session.execute(update(Notice).where(
        Notice.id == notice_id, Notice.done_at.is_(None),
        (Notice.claimed_until.is_(None)) | (Notice.claimed_until < now))
        .values(claimed_until=now + CLAIM_FOR).execution_options(synchronize_session=False))
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


def send(board: Board, notice: Queued) -> None:
    reply = text_reply(notice.text, ephemeral=False)
    if notice.user is not None:
        board.direct(notice.user, reply, key=notice.key)
        return
    kind, _, key = (notice.thread or "").partition(":")
    thread = CardRef(CardKind(kind), key) if key else None
    board.post(notice.channel or "", reply, thread=thread, key=notice.key)


def done(*, session: Session, notice_id: int, now: datetime) -> None:
    session.execute(update(Notice).where(Notice.id == notice_id).values(done_at=now, claimed_until=None)
                    .execution_options(synchronize_session=False))


def failed(*, session: Session, notice: Queued, exc: DeliveryError, policy: RetryPolicy, now: datetime) -> None:
    """Retry the notice after the policy's delay; give it up (logged) when the policy says so."""
    row = session.get(Notice, notice.id)
    if row is None:
        return
    row.attempts += 1
    row.last_error, row.claimed_until = str(exc)[:200], None
    wait = policy.delay(exc, row.attempts)
    if wait is None:
        row.done_at = now
        log.warning("%s could not be delivered; giving up after %d attempt(s): %s", _what(notice), row.attempts, exc)
        return
    row.not_before = now + timedelta(seconds=wait)
    log.info("%s failed (%s); trying again in %.0fs", _what(notice), exc, wait)


def pending(*, session: Session) -> int:
    return int(session.scalar(select(func.count(Notice.id)).where(Notice.done_at.is_(None))) or 0)


def _what(notice: Queued) -> str:
    where = f"<@{notice.user}>" if notice.user else f"{notice.channel} ({notice.thread or 'no thread'})"
    return f"notice {notice.key} to {where}"
