"""What happens to an alert a receiver refuses while keeping the rest of its delivery: a row in
`rejected_alerts` (receiver, receipt, index, reason, a safe excerpt), a WARNING line, and a count per
receiver and reason code that /metrics can show.

A delivery holds at most ROWS_PER_DELIVERY rows and LOG_LINES_PER_DELIVERY log lines (a batch of 10,000 bad
alerts is one delivery, not 10,000 writes); the count counts every one. Rows older than KEEP are deleted,
at most once an hour, by the receiver that records a rejection.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.model import Rejection, trim
from bot.clock import Clock
from bot.storage.db import insert_ignoring_duplicates, session_scope
from bot.storage.models import RejectedAlert

log = logging.getLogger(__name__)
ROWS_PER_DELIVERY = 50
LOG_LINES_PER_DELIVERY = 5
KEEP = timedelta(days=30)
PRUNE_EVERY = timedelta(hours=1)


class Tally:
    """Counts by (receiver, reason), safe to bump from any request thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, receiver: str, reason: str, n: int = 1) -> None:
        with self._lock:
            self._counts[(receiver, reason)] += n

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)


class RejectedAlerts:
    """Records the rejected alerts of one delivery; never raises for a database that cannot take them."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, counts: Tally) -> None:
        self.sessions, self.clock, self.counts = sessions, clock, counts
        self._pruned: datetime | None = None

    def record(self, receiver: str, receipt: str, rejections: list[Rejection]) -> None:
        for rejection in rejections:
            self.counts.add(receiver, rejection.code)
        for rejection in rejections[:LOG_LINES_PER_DELIVERY]:
            log.warning("rejected a %s alert (%s): %s", receiver, receipt[:80], rejection.reason)
        if len(rejections) > LOG_LINES_PER_DELIVERY:
            log.warning("rejected %d more alert(s) of the same %s delivery", len(rejections) - LOG_LINES_PER_DELIVERY,
                        receiver)
        try:
            self._store(receiver, receipt, rejections[:ROWS_PER_DELIVERY])
        except SQLAlchemyError as exc:
            log.warning("could not record %d rejected %s alert(s): %s", len(rejections), receiver,
                        type(exc).__name__)

    def _store(self, receiver: str, receipt: str, rejections: list[Rejection]) -> None:
        now = self.clock()
        with session_scope(self.sessions) as session:
            for rejection in rejections:
                insert_ignoring_duplicates(session, RejectedAlert, {
                    "receiver": receiver, "receipt": receipt, "item": rejection.index, "received_at": now,
                    "code": rejection.code, "reason": trim(rejection.reason, 300), "excerpt": rejection.excerpt,
                }, key=["receipt", "item"])
            if self._pruned is None or now - self._pruned >= PRUNE_EVERY:
                session.execute(delete(RejectedAlert).where(RejectedAlert.received_at < now - KEEP))
                self._pruned = now
