"""The outbox: alert cards go to Slack from the database, never straight from a webhook.

Per channel at most one call per `interval_s` (Slack allows about one message a second per channel);
an HTTP 429 pauses that channel for its `Retry-After`; a row is claimed before it is sent, so two
replicas never send the same one; pending updates of one alert are one row (see OutboxMessage).
Nothing is dropped: a failed send is retried with backoff.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.alarms import service, storm
from bot.runtime import Runtime
from bot.slack.blocks import to_message
from bot.storage.db import session_scope
from bot.storage.models import OutboxMessage, StormSummary
from commands.alerts import card, storm_card

log = logging.getLogger(__name__)
CLAIM_FOR = timedelta(seconds=60)
MAX_BACKOFF_S = 300


def _retry_after(exc: BaseException) -> float | None:
    if isinstance(exc, SlackApiError) and exc.response.status_code == 429:
        return float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1)))
    return None


class Outbox:
    def __init__(self, rt: Runtime, client: WebClient, *, interval_s: float = 1.0, batch: int = 100,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rt, self.client, self.interval_s, self.batch, self.monotonic = rt, client, interval_s, batch, monotonic
        self._paused_until: dict[str, float] = {}          # channel -> monotonic time it may be called again
        self._wake = threading.Event()

    def wake(self) -> None:
        """New work was stored: start a pass now instead of at the next idle tick."""
        self._wake.set()

    def run_once(self) -> int:
        """Send what is due now (respecting each channel's pace); return how many calls succeeded."""
        now = self.rt.clock()
        with session_scope(self.rt.sessions) as session:
            due = session.execute(
                select(OutboxMessage.id, OutboxMessage.channel, OutboxMessage.alert_id)
                .where(OutboxMessage.sent_at.is_(None), OutboxMessage.not_before <= now,
                       (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now))
                .order_by(OutboxMessage.id).limit(self.batch)).all()
        with session_scope(self.rt.sessions) as session:
            for channel in sorted({channel for _, channel, _ in due}):
                storm.fold_excess(session=session, channel=channel, now=now,
                                  threshold=self.rt.config.alerts.storm_threshold)
        sent = self._send_summaries()
        for row_id, channel, alert_id in due:
            if self._paused_until.get(channel, 0.0) > self.monotonic() or not self._claim(row_id, now):
                continue
            sent += self._send(row_id, channel, alert_id)
        return sent

    def _claim(self, row_id: int, now: datetime) -> bool:
        # Releasing pending_key here lets a change that arrives during the send queue a fresh row.
        with session_scope(self.rt.sessions) as session:
            claimed = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.sent_at.is_(None),
                       (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now))
                .values(claimed_until=now + CLAIM_FOR, pending_key=None)
                .execution_options(synchronize_session=False))
        return bool(claimed.rowcount)  # type: ignore[attr-defined]

    def _send(self, row_id: int, channel: str, alert_id: int) -> int:
        with session_scope(self.rt.sessions) as session:
            alert = service.get(session=session, alert_id=alert_id)
            if alert.summarized:                       # its change shows in the channel's storm summary
                storm.mark_dirty(session=session, channel=alert.channel, now=self.rt.clock())
                self._wake.set()
                session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                                .values(sent_at=self.rt.clock(), claimed_until=None, last_error="summarized")
                                .execution_options(synchronize_session=False))
                return 0
        message = to_message(card(alert, now=self.rt.clock()))
        try:
            if alert.slack_channel and alert.slack_ts:
                self.client.chat_update(channel=alert.slack_channel, ts=alert.slack_ts, **message)
            else:
                posted = self.client.chat_postMessage(channel=channel, **message)
                with session_scope(self.rt.sessions) as session:
                    service.attach_message(session=session, alert_id=alert_id, channel=str(posted["channel"]),
                                           ts=str(posted["ts"]))
        except SlackApiError as exc:
            self._failed(row_id, alert_id, channel, exc)
            return 0
        except (SlackClientError, OSError) as exc:      # Slack unreachable (URLError is an OSError)
            self._retry_later(row_id, alert_id, error=type(exc).__name__, after_s=None)
            return 0
        self._paused_until[channel] = self.monotonic() + self.interval_s
        with session_scope(self.rt.sessions) as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                            .values(sent_at=self.rt.clock(), claimed_until=None)
                            .execution_options(synchronize_session=False))
        return 1

    def _send_summaries(self) -> int:
        with session_scope(self.rt.sessions) as session:
            channels = storm.dirty_channels(session=session)
        sent = 0
        for channel in channels:
            if self._paused_until.get(channel, 0.0) > self.monotonic():
                continue
            with session_scope(self.rt.sessions) as session:
                if not storm.claim_dirty(session=session, channel=channel):
                    continue
                message = to_message(storm_card(*storm.tally(session=session, channel=channel)))
                summary = session.get(StormSummary, channel)
                where = (summary.slack_channel, summary.slack_ts) \
                    if summary and summary.slack_channel and summary.slack_ts else None
            try:
                if where is not None:
                    self.client.chat_update(channel=where[0], ts=where[1], **message)
                else:
                    posted = self.client.chat_postMessage(channel=channel, **message)
                    with session_scope(self.rt.sessions) as session:
                        row = session.get(StormSummary, channel)
                        if row is not None:
                            row.slack_channel, row.slack_ts = str(posted["channel"]), str(posted["ts"])
            except (SlackClientError, OSError) as exc:
                wait_s = _retry_after(exc)
                self._paused_until[channel] = self.monotonic() + (wait_s or self.interval_s)
                with session_scope(self.rt.sessions) as session:
                    storm.mark_dirty(session=session, channel=channel, now=self.rt.clock())
                continue
            self._paused_until[channel] = self.monotonic() + self.interval_s
            sent += 1
        return sent

    def _failed(self, row_id: int, alert_id: int, channel: str, exc: SlackApiError) -> None:
        if exc.response.status_code == 429:
            wait_s = float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1)))
            self._paused_until[channel] = self.monotonic() + wait_s
            log.info("Slack rate-limited %s; pausing it for %.0fs", channel, wait_s)
            self._retry_later(row_id, alert_id, error="ratelimited", after_s=wait_s)
            return
        log.warning("Slack refused an alert card for %s: %s", channel, exc.response.get("error"))
        self._retry_later(row_id, alert_id, error=str(exc.response.get("error"))[:200], after_s=None)

    def _retry_later(self, row_id: int, alert_id: int, *, error: str, after_s: float | None) -> None:
        """Put a failed row back in the queue (with backoff), unless a newer row for the alert supersedes it."""
        now = self.rt.clock()
        with session_scope(self.rt.sessions) as session:
            row = session.get(OutboxMessage, row_id)
            if row is None:
                return
            row.attempts += 1
            row.last_error, row.claimed_until = error, None
            row.not_before = now + timedelta(seconds=after_s if after_s is not None
                                             else min(2 ** row.attempts, MAX_BACKOFF_S))
            if self._newer_exists(session, row_id, alert_id):
                row.sent_at = now                          # the newer row renders the latest state
                return
        try:
            with session_scope(self.rt.sessions) as session:
                session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                                .values(pending_key=f"alert:{alert_id}").execution_options(synchronize_session=False))
        except IntegrityError:
            # A change was queued while we failed: that row carries the latest state; this one is done.
            with session_scope(self.rt.sessions) as session:
                session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                                .values(sent_at=now).execution_options(synchronize_session=False))

    @staticmethod
    def _newer_exists(session: Session, row_id: int, alert_id: int) -> bool:
        return session.scalars(select(OutboxMessage.id).where(
            OutboxMessage.alert_id == alert_id, OutboxMessage.sent_at.is_(None), OutboxMessage.id != row_id)
        ).first() is not None

    def pending(self) -> int:
        """Deliveries still to make: unsent rows and storm summaries to re-render."""
        with session_scope(self.rt.sessions) as session:
            rows = len(session.scalars(select(OutboxMessage.id).where(OutboxMessage.sent_at.is_(None))).all())
            return rows + len(storm.dirty_channels(session=session))

    def run_forever(self, stop: threading.Event, *, idle_s: float = 0.2) -> None:
        while not stop.is_set():
            try:
                sent = self.run_once()
            except Exception:
                log.exception("outbox pass failed; retrying")
                sent = 0
            if not sent:
                self._wake.wait(idle_s)
                self._wake.clear()
