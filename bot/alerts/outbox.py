"""The outbox: alert cards, storm summaries and notices (escalation posts and direct messages) go to Slack
from the database, never straight from a webhook or a worker.

Per channel at most one call per `interval_s` (Slack allows about one message a second per channel); a rate
limit pauses that channel for as long as the transport asks; a row is claimed before it is sent, so two
replicas never send the same one; pending updates of one alert are one row (see OutboxMessage). Nothing is
dropped: a failed card is retried by the BACKGROUND policy, a refusal included (the bot may yet be invited);
a failed notice by the NOTICE policy. The Board posts each card and notice once, even across a crash.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Row, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts import maintenance, notices, service, storm
from bot.alerts.card import card, storm_card
from bot.clock import Clock
from bot.config.alerts import AlertSettings
from bot.delivery import BACKGROUND, CLAIM_FOR, NOTICE, Board, DeliveryError, RateLimitedError, RetryPolicy
from bot.metrics import Metrics
from bot.storage.db import commit_without_waiting_for_disk, one_pass, session_scope
from bot.storage.models import Alert, OutboxMessage

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, *, sessions: sessionmaker[Session], clock: Clock, settings: AlertSettings, board: Board,
                 batch: int = 100, policy: RetryPolicy = BACKGROUND, notice_policy: RetryPolicy = NOTICE,
                 interval_s: float | None = None, monotonic: Callable[[], float] = time.monotonic,
                 calendar: maintenance.Calendar | None = None, metrics: Metrics | None = None) -> None:
        self.sessions, self.clock, self.settings, self.board = sessions, clock, settings, board
        self.metrics = metrics or Metrics()
        self.calendar = calendar or maintenance.Calendar()     # scheduled windows; stored ones are read anyway
        self.interval_s = settings.channel_interval.total_seconds() if interval_s is None else interval_s
        self.batch, self.policy, self.notice_policy, self.monotonic = batch, policy, notice_policy, monotonic
        self._paused_until: dict[str, float] = {}          # channel -> monotonic time it may be called again
        self._wake = threading.Event()

    def wake(self) -> None:
        """New work was stored: start a pass now instead of at the next idle tick."""
        self._wake.set()

    def run_once(self) -> int:
        """Send what is due now (respecting each channel's pace); return how many calls succeeded.

        One transaction finds all the work, folds a storm's excess and claims and loads the next card of each
        channel that may be called now; the Board records its attempt before posting: two commits from a
        wake-up to the first Slack call, neither waiting for an fsync on PostgreSQL (a claim lost with the
        database only delays a card)."""
        now = self.clock()
        with session_scope(self.sessions) as session:
            commit_without_waiting_for_disk(session)
            due = session.execute(
                select(OutboxMessage.id, OutboxMessage.channel, OutboxMessage.alert_id, Alert.summarized,
                       Alert.service)
                .join(Alert, Alert.id == OutboxMessage.alert_id)
                .where(OutboxMessage.sent_at.is_(None), OutboxMessage.not_before <= now,
                       (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now))
                .order_by(OutboxMessage.id).limit(self.batch)).all()
            # A maintenance window holds its services' messages back (bot.alerts.maintenance) before anything else.
            held = maintenance.hold(session=session, calendar=self.calendar, now=now,
                                    due=[(r.id, r.alert_id, r.service) for r in due])
            due = [r for r in due if r.id not in held]
            self._summarized(session, [r.id for r in due if r.summarized], now)
            for channel in sorted({r.channel for r in due}):
                storm.fold_excess(session=session, channel=channel, now=now, threshold=self.settings.storm_threshold)
            summaries = storm.dirty_channels(session=session, now=now)
            queued = notices.due(session=session, now=now, limit=self.batch)
            cards = self._claim_cards(session, [r for r in due if not r.summarized],
                                      busy={*summaries, *(n.pace for n in queued)}, now=now)
        sent = self._send_notices(queued, now) + self._send_summaries(summaries, now)
        for row_id, channel, alert in cards:
            sent += self._send(row_id, channel, alert)
        return sent

    def _paused(self, channel: str) -> bool:
        return self._paused_until.get(channel, 0.0) > self.monotonic()

    def _pace(self, channel: str, wait_s: float | None = None) -> None:
        self._paused_until[channel] = self.monotonic() + (self.interval_s if wait_s is None else wait_s)

    def _summarized(self, session: Session, row_ids: list[int], now: datetime) -> None:
        """Rows of folded alerts need no call: their change shows in the channel's storm summary."""
        if not row_ids:
            return
        channels = set(session.scalars(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(row_ids), OutboxMessage.sent_at.is_(None),
                   (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now))
            .values(sent_at=now, claimed_until=None, pending_key=None, last_error="summarized")
            .returning(OutboxMessage.channel).execution_options(synchronize_session=False)))
        for channel in sorted(channels):
            storm.mark_dirty(session=session, channel=channel, now=now)

    def _claim_cards(self, session: Session, due: Sequence[Row[int, str, int, bool, str | None]], *, busy: set[str],
                     now: datetime) -> list[tuple[int, str, service.AlertRecord]]:
        """Claim the first due row of each channel that may be called now (not paused, no summary or notice
        going there first) and load its alert; a row of a folded alert is done instead (the summary shows it)."""
        first: dict[str, tuple[int, int]] = {}
        for row_id, channel, alert_id, *_ in due:
            if channel not in busy and not self._paused(channel):
                first.setdefault(channel, (row_id, alert_id))
        if not first:
            return []
        # Releasing pending_key here lets a change that arrives during the send queue a fresh row.
        claimed = set(session.scalars(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([row_id for row_id, _ in first.values()]), OutboxMessage.sent_at.is_(None),
                   (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now))
            .values(claimed_until=now + CLAIM_FOR, pending_key=None).returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)))
        cards = []
        for channel, (row_id, alert_id) in first.items():
            if row_id not in claimed:
                continue
            alert = service.get(session=session, alert_id=alert_id)
            if alert.summarized:                       # its change shows in the channel's storm summary
                storm.mark_dirty(session=session, channel=alert.channel, now=now)
                self._wake.set()
                self._mark_sent(session, row_id, note="summarized")
                continue
            cards.append((row_id, channel, alert))
        return cards

    def _send(self, row_id: int, channel: str, alert: service.AlertRecord) -> int:
        alert_id = alert.id
        try:
            self.board.show(card(alert, now=self.clock()), channel=channel)
        except DeliveryError as exc:
            self._failed(row_id, alert_id, channel, exc)
            return 0
        self._pace(channel)
        with session_scope(self.sessions) as session:
            commit_without_waiting_for_disk(session)     # if lost, the card is sent again: the Board finds it
            # Also after an update: a card posted just before a crash got its place stored, not this mark.
            service.mark_notified(session=session, alert_id=alert_id, at=self.clock())
            self._mark_sent(session, row_id)
        self.metrics.alerts_delivered.inc()
        return 1

    def _mark_sent(self, session: Session, row_id: int, *, note: str | None = None) -> None:
        values: dict[str, object] = {"sent_at": self.clock(), "claimed_until": None}
        if note is not None:
            values["last_error"] = note
        session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values)
                        .execution_options(synchronize_session=False))

    def _send_summaries(self, channels: list[str], now: datetime) -> int:
        sent = 0
        for channel in channels:
            if self._paused(channel):
                continue
            with session_scope(self.sessions) as session:
                version = storm.claim_dirty(session=session, channel=channel, now=now)
                if version is None:
                    continue
                summary = storm_card(channel, *storm.tally(session=session, channel=channel))
            try:
                self.board.show(summary, channel=channel)
            except DeliveryError as exc:
                if not self._pause_if_limited(channel, exc):
                    self._pace(channel)
                version = None                     # still dirty: sent again on a later pass
            else:
                self._pace(channel)
                sent += 1
            with session_scope(self.sessions) as session:
                storm.shown(session=session, channel=channel, version=version)
        return sent

    def _send_notices(self, due: list[notices.Queued], now: datetime) -> int:
        sent = 0
        for notice in due:
            if self._paused(notice.pace):
                continue
            with session_scope(self.sessions) as session:
                if not notices.claim(session=session, notice_id=notice.id, now=now):
                    continue
            try:
                notices.send(self.board, notice)
            except DeliveryError as exc:
                if not self._pause_if_limited(notice.pace, exc):
                    self._pace(notice.pace)
                with session_scope(self.sessions) as session:
                    notices.failed(session=session, notice=notice, exc=exc, policy=self.notice_policy,
                                   now=self.clock())
                continue
            self._pace(notice.pace)
            with session_scope(self.sessions) as session:
                notices.done(session=session, notice_id=notice.id, now=self.clock())
            sent += 1
        return sent

    def _pause_if_limited(self, channel: str, exc: DeliveryError) -> bool:
        """A rate limit pauses the whole channel for as long as the transport asks (within the policy)."""
        if not isinstance(exc, RateLimitedError):
            return False
        wait_s = self.policy.delay(exc, 1)
        self._pace(channel, wait_s)
        log.info("Slack rate-limited %s; pausing it for %.0fs", channel, wait_s or 0.0)
        return True

    def _failed(self, row_id: int, alert_id: int, channel: str, exc: DeliveryError) -> None:
        self._pause_if_limited(channel, exc)
        if not isinstance(exc, RateLimitedError):
            log.warning("an alert card for %s could not be delivered: %s", channel, exc)
        self._retry_later(row_id, alert_id, exc)

    def _retry_later(self, row_id: int, alert_id: int, exc: DeliveryError) -> None:
        """Put a failed row back in the queue (after the policy's delay), unless a newer row for the alert
        supersedes it."""
        now = self.clock()
        with session_scope(self.sessions) as session:
            row = session.get(OutboxMessage, row_id)
            if row is None:
                return
            row.attempts += 1
            row.last_error, row.claimed_until = str(exc)[:200], None
            row.not_before = now + timedelta(seconds=self.policy.delay(exc, row.attempts) or 0.0)
            if self._newer_exists(session, row_id, alert_id):
                row.sent_at = now                          # the newer row renders the latest state
                return
        try:
            with session_scope(self.sessions) as session:
                session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                                .values(pending_key=f"alert:{alert_id}").execution_options(synchronize_session=False))
        except IntegrityError:
            # A change was queued while we failed: that row carries the latest state; this one is done.
            with session_scope(self.sessions) as session:
                session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                                .values(sent_at=now).execution_options(synchronize_session=False))

    @staticmethod
    def _newer_exists(session: Session, row_id: int, alert_id: int) -> bool:
        return session.scalars(select(OutboxMessage.id).where(
            OutboxMessage.alert_id == alert_id, OutboxMessage.sent_at.is_(None), OutboxMessage.id != row_id)
        ).first() is not None

    def pending(self) -> int:
        """Deliveries still to make: unsent rows, notices and storm summaries to re-render."""
        with session_scope(self.sessions) as session:
            rows = session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.sent_at.is_(None))) or 0
            return rows + notices.pending(session=session) + len(storm.dirty_channels(session=session))

    def run_forever(self, stop: threading.Event, *, idle_s: float = 0.2) -> None:
        while not stop.is_set():
            if not one_pass("outbox", self.run_once, failed=0, log=log):
                self._wake.wait(idle_s)
                self._wake.clear()
