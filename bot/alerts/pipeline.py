"""Alert events in, alerts stored: receipts make redeliveries harmless, dedup keys merge repeats into one alert,
P1/P2 open an incident, and every change queues one (coalesced) Slack delivery.

Storing comes first and is the only thing a receiver waits for: Slack may be down, the outbox
delivers later from the database.

Redelivery (the rule, per receipt):
  A delivery is named by its receipt: the receiver's key for "this exact delivery" (`am:<sha256 of body>`,
  `wh:<sha256 of body>`, `wh:key:<Idempotency-Key>`, `sns:<MessageId>`); an event may carry its own
  (`AlertEvent.receipt`, SNS). The receipt is written in the same transaction as the delivery's alerts, so
  a delivery that was stored but not answered (a timeout, a crash) is known when the sender retries it.
  A delivery whose receipt was seen within the last `RECEIPT_WINDOW` (15 minutes, counted from the last
  time it was seen) is a redelivery: it applies only state changes — it fires an alert that is not live
  (resolved since, or never stored) and resolves a live one — and never counts a firing again. A receipt
  seen longer ago is a new delivery: a content hash must not hide a real, later repeat. Old receipts are
  deleted by housekeeping (`housekeeping.prune_receipts`); one not yet deleted is ignored all the same.

Speed: a delivery is one transaction of a few set-based statements whatever its size (bot.alerts.batch: the
receipts stamped, one SELECT … FOR UPDATE of the live alerts in key order, one UPDATE of their counts, one
INSERT … RETURNING of new alerts, of their incidents and of timeline rows, one INSERT of outbox rows);
everything that needs no database (grouping, severity, routing) is worked out before the transaction starts,
so SQLite's write lock is held briefly.
"""
from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts import batch
from bot.alerts.batch import BOT_ACTOR as BOT_ACTOR
from bot.alerts.batch import Pairs, Run
from bot.alerts.model import AlertEvent
from bot.clock import Clock
from bot.config import OpsConfig
from bot.storage.db import session_scope
from bot.storage.models import Alert

log = logging.getLogger(__name__)
ATTEMPTS = 6
RACES = ("40P01", "40001")   # PostgreSQL: deadlock_detected, serialization_failure
BACKOFF_S = 0.004          # before attempt n+1: up to BACKOFF_S * 2**n, jittered (racers part ways)
RECEIPT_WINDOW = timedelta(minutes=15)
_BY_KEY = attrgetter("dedup_key")
RECEIPT_MAX = 200                      # AlertReceipt.key's length; longer keys are stored as a digest


@dataclass(frozen=True, slots=True)
class Ingested:
    accepted: int
    duplicates: int
    alert_ids: tuple[int, ...]


def route(config: OpsConfig, event: AlertEvent, severity: str) -> str:
    if event.channel:
        return event.channel
    facts = {**event.details, "severity": severity, "source": event.source, "service": event.service or ""}
    for rule in config.alerts.routes:
        if all(facts.get(k) == v for k, v in rule.match.items()):
            return rule.channel
    return config.channels.alerts


def receipt_key(receipt: str) -> str:
    """The stored form of a receipt: as given, or its prefix and a digest when it is longer than a key."""
    if len(receipt) <= RECEIPT_MAX:
        return receipt
    return receipt[:16] + ":sha256:" + hashlib.sha256(receipt.encode("utf-8", "surrogatepass")).hexdigest()


def ingest(*, sessions: sessionmaker[Session], clock: Clock, config: OpsConfig, events: list[AlertEvent],
           receipt: str | None = None) -> Ingested:
    """Store a delivery's events and its receipt in one transaction (see the module's docstring for the
    redelivery rule). A race with another delivery (a unique key taken first, a deadlock broken, SQLite busy)
    rolls it back; it is then tried again whole, receipt included, against what the other one stored."""
    rounds = _plan(config, events)
    receipts = list(dict.fromkeys(receipt_key(r) for r in [receipt, *(e.receipt for e in events)] if r))
    batch_receipt = receipt_key(receipt) if receipt else None
    if not rounds and not receipts:
        return Ingested(0, 0, ())
    for attempt in range(ATTEMPTS):
        try:
            with session_scope(sessions) as session:
                now = clock()
                seen = batch.claim_receipts(session, receipts, now, RECEIPT_WINDOW)
                _store(session, config, rounds, now, seen, batch_seen=batch_receipt in seen)
            return _summarize([run for runs in rounds for run in runs])
        except (IntegrityError, OperationalError) as exc:
            if attempt + 1 == ATTEMPTS or not _raced(exc):
                raise
            log.debug("a delivery of %d alerts raced (attempt %d): %s; trying it again", len(events), attempt + 1,
                      type(exc).__name__)
            time.sleep(random.uniform(0, BACKOFF_S * 2 ** attempt))   # noqa: S311 (jitter, not secrecy)
    raise AssertionError("unreachable")


def store_in(*, session: Session, config: OpsConfig, events: list[AlertEvent], now: datetime) -> Ingested:
    """Store events in the caller's transaction, without a receipt: for alerts the bot raises itself (a missed
    heartbeat), which a compare-and-set in that same transaction makes happen once."""
    rounds = _plan(config, events)
    _store(session, config, rounds, now, set(), batch_seen=False)
    return _summarize([run for runs in rounds for run in runs])


def _raced(exc: IntegrityError | OperationalError) -> bool:
    """A race worth trying again at once: a unique key taken first, or PostgreSQL breaking a deadlock or a
    serialization conflict. Not SQLite's "database is locked": its busy timeout has waited already, and the
    sender must get its answer (a 503 it retries) well within its own timeout."""
    return isinstance(exc, IntegrityError) or getattr(getattr(exc, "orig", None), "sqlstate", None) in RACES


def _plan(config: OpsConfig, events: Iterable[AlertEvent]) -> list[list[Run]]:
    """Rounds of runs, each round at most one run per key, in the order the delivery gave them."""
    by_key: dict[str, list[Run]] = {}
    last: Run | None = None
    for position, event in enumerate(sorted(events, key=_BY_KEY)):       # a key's events are adjacent
        firing = event.status == "firing"
        if (last is not None and firing and last.firing and last.first.dedup_key == event.dedup_key
                and last.first.receipt == event.receipt):
            last.times += 1
            last.reason = event.reason or last.reason
            continue
        severity = config.alerts.severity(event.severity)
        last = Run(first=event, firing=firing, position=position, severity=severity,
                   channel=route(config, event, severity), reason=event.reason)
        by_key.setdefault(event.dedup_key, []).append(last)
    depth = max((len(runs) for runs in by_key.values()), default=0)
    return [[runs[i] for runs in by_key.values() if len(runs) > i] for i in range(depth)]


def _summarize(runs: list[Run]) -> Ingested:
    results = [run.outcome for run in sorted(runs, key=lambda r: r.position) for _ in range(run.times)]
    ids = tuple(r for r in results if r)
    duplicates = sum(1 for r in results if r is None)
    return Ingested(len(results) - duplicates, duplicates, ids)


def _store(session: Session, config: OpsConfig, rounds: list[list[Run]], now: datetime, seen: set[str], *,
           batch_seen: bool) -> None:
    touched: dict[int, str] = {}                 # alert id -> channel: one outbox row each
    for runs in rounds:
        live = batch.lock_live(session, [run.key for run in runs])
        bumps, resolves, fresh = _sort_out(runs, live, seen, batch_seen)
        if not batch.bump(session, bumps, now):
            touched.update((run.outcome, row.channel) for run, row in bumps if run.outcome)
        batch.resolve_many(session, resolves, now)
        touched.update((run.outcome, row.channel) for run, row in resolves if run.outcome)
        for run, alert_id in zip(fresh, batch.create(session, config, fresh, now), strict=True):
            run.outcome = alert_id
            touched[alert_id] = run.channel
    batch.enqueue_many(session, touched, now)


def _sort_out(runs: list[Run], live: dict[str, Any], seen: set[str], batch_seen: bool
              ) -> tuple[Pairs, Pairs, list[Run]]:
    """(repeats to count, alerts to resolve, alerts to create); a redelivered repeat of a live alert is none."""
    bumps: Pairs = []
    resolves: Pairs = []
    fresh: list[Run] = []
    for run in runs:
        again = batch_seen or (run.first.receipt is not None and receipt_key(run.first.receipt) in seen)
        row = live.get(run.key)
        if run.firing and row is None:
            fresh.append(run)
        elif row is not None and not (run.firing and again):
            (bumps if run.firing else resolves).append((run, row))
            run.outcome = int(row.id)
        else:                           # a repeat already counted, or a resolution of nothing known
            run.outcome = None if again else 0
    return bumps, resolves, fresh


def enqueue(session: Session, alert: Alert, now: datetime) -> None:
    """Queue one delivery of the alert's current state; a delivery already queued covers this change too."""
    session.flush()
    batch.enqueue_many(session, {alert.id: alert.channel}, now)


