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

Speed: a delivery is one transaction of a few set-based statements whatever its size (one SELECT … FOR UPDATE
of the live alerts, one UPDATE of their counts, one INSERT … RETURNING of new alerts and of their incidents
and timeline rows, one INSERT of outbox rows); everything that needs no database (grouping, severity,
routing) is worked out before the transaction starts, so SQLite's write lock is held briefly.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, Text, bindparam, func, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot import incidents
from bot.alerts.escalation import first_due
from bot.alerts.model import AlertEvent
from bot.clock import Clock
from bot.config import OpsConfig
from bot.storage.bulk import insert_many
from bot.storage.db import session_scope
from bot.storage.models import Alert, AlertReceipt, AlertStatus, OutboxMessage

log = logging.getLogger(__name__)
ATTEMPTS = 5
BOT_ACTOR = "opsbot"
RECEIPT_WINDOW = timedelta(minutes=15)
RECEIPT_MAX = 200                      # AlertReceipt.key's length; longer keys are stored as a digest
ALERTS: Table = Alert.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Ingested:
    accepted: int
    duplicates: int
    alert_ids: tuple[int, ...]


@dataclass(slots=True)
class _Run:
    """Back-to-back events of one key in a delivery that apply as one: `times` firings, or one resolution."""

    first: AlertEvent
    firing: bool
    position: int                  # its first event's index in the key-sorted delivery
    severity: str
    channel: str
    times: int = 1
    reason: str | None = None      # the last reason given (a repeat updates the alert's reason)
    outcome: int | None = None     # the alert id; 0 for a resolution of nothing known; None: a redelivery

    @property
    def key(self) -> str:
        return self.first.dedup_key


def route(config: OpsConfig, event: AlertEvent, severity: str) -> str:
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
                seen = _claim_receipts(session, receipts, now)
                _store(session, config, rounds, now, seen, batch_seen=batch_receipt in seen)
            return _summarize([run for runs in rounds for run in runs])
        except (IntegrityError, OperationalError) as exc:
            if attempt + 1 == ATTEMPTS:
                raise
            log.debug("a delivery of %d alerts raced (attempt %d): %s; trying it again", len(events), attempt + 1,
                      type(exc).__name__)
    raise AssertionError("unreachable")


def _plan(config: OpsConfig, events: Iterable[AlertEvent]) -> list[list[_Run]]:
    """Rounds of runs, each round at most one run per key, in the order the delivery gave them."""
    by_key: dict[str, list[_Run]] = {}
    for position, event in enumerate(sorted(events, key=lambda e: e.dedup_key)):
        runs = by_key.setdefault(event.dedup_key, [])
        last = runs[-1] if runs else None
        if (last is not None and last.firing and event.status == "firing"
                and last.first.receipt == event.receipt):
            last.times += 1
            last.reason = event.reason or last.reason
            continue
        severity = config.alerts.severity(event.severity)
        runs.append(_Run(first=event, firing=event.status == "firing", position=position, severity=severity,
                         channel=route(config, event, severity), reason=event.reason))
    depth = max((len(runs) for runs in by_key.values()), default=0)
    return [[runs[i] for runs in by_key.values() if len(runs) > i] for i in range(depth)]


def _summarize(runs: list[_Run]) -> Ingested:
    results = [run.outcome for run in sorted(runs, key=lambda r: r.position) for _ in range(run.times)]
    ids = tuple(r for r in results if r)
    duplicates = sum(1 for r in results if r is None)
    return Ingested(len(results) - duplicates, duplicates, ids)


def _claim_receipts(session: Session, keys: list[str], now: datetime) -> set[str]:
    """The receipts among `keys` seen within the window; all of them are stamped as seen `now`. A receipt
    another delivery is storing at this moment makes this one fail with IntegrityError (and be tried again)."""
    if not keys:
        return set()
    found = dict(session.execute(select(AlertReceipt.key, AlertReceipt.received_at)
                                 .where(AlertReceipt.key.in_(keys)).order_by(AlertReceipt.key).with_for_update()).all())
    if found:
        session.execute(update(AlertReceipt).where(AlertReceipt.key.in_(list(found))).values(received_at=now)
                        .execution_options(synchronize_session=False))
    new = [{"key": k, "received_at": now} for k in keys if k not in found]
    if new:
        insert_many(session, AlertReceipt.__table__, new)  # type: ignore[arg-type]
    return {k for k, at in found.items() if at > now - RECEIPT_WINDOW}


def _store(session: Session, config: OpsConfig, rounds: list[list[_Run]], now: datetime, seen: set[str], *,
           batch_seen: bool) -> None:
    touched: dict[int, str] = {}                 # alert id -> channel: one outbox row each
    for runs in rounds:
        live = {row.active_key: row for row in session.execute(
            select(Alert.id, Alert.active_key, Alert.channel, Alert.incident_id)
            .where(Alert.active_key.in_([run.key for run in runs])).order_by(Alert.active_key).with_for_update())}
        bumps, resolves, fresh = _sort_out(runs, live, seen, batch_seen, touched)
        _bump(session, bumps, now)
        _resolve_many(session, resolves, now)
        for run, alert_id in zip(fresh, _create(session, config, fresh, now), strict=True):
            run.outcome = alert_id
            touched[alert_id] = run.channel
    _enqueue_many(session, touched, now)


Pairs = list[tuple[_Run, Any]]                   # a run and its live alert's row


def _sort_out(runs: list[_Run], live: dict[str, Any], seen: set[str], batch_seen: bool,
              touched: dict[int, str]) -> tuple[Pairs, Pairs, list[_Run]]:
    """(repeats to count, alerts to resolve, alerts to create); a redelivered repeat of a live alert is none."""
    bumps: Pairs = []
    resolves: Pairs = []
    fresh: list[_Run] = []
    for run in runs:
        again = batch_seen or (run.first.receipt is not None and receipt_key(run.first.receipt) in seen)
        row = live.get(run.key)
        if run.firing and row is None:
            fresh.append(run)
        elif row is not None and not (run.firing and again):
            (bumps if run.firing else resolves).append((run, row))
            run.outcome = int(row.id)
            touched[run.outcome] = row.channel
        else:                           # a repeat already counted, or a resolution of nothing known
            run.outcome = None if again else 0
    return bumps, resolves, fresh


def _bump(session: Session, pairs: Pairs, now: datetime) -> None:
    """Count repeats of live alerts (already locked): one UPDATE for all of them, the hot path of a storm."""
    if not pairs:
        return
    if session.get_bind().dialect.name == "postgresql":     # one statement, one array per column
        session.execute(text(
            "UPDATE alerts SET count = alerts.count + u.times, last_seen = :now, reason = coalesce(u.reason, "
            "alerts.reason) FROM unnest(CAST(:ids AS INTEGER[]), CAST(:times AS INTEGER[]), CAST(:reasons AS TEXT[]))"
            " AS u(id, times, reason) WHERE alerts.id = u.id"),
            {"now": now, "ids": [row.id for _, row in pairs], "times": [run.times for run, _ in pairs],
             "reasons": [run.reason for run, _ in pairs]})
        return
    stmt = (update(ALERTS).where(ALERTS.c.id == bindparam("b_id"))
            .values(count=ALERTS.c.count + bindparam("b_times"), last_seen=now,
                    reason=func.coalesce(bindparam("b_reason", type_=Text()), ALERTS.c.reason)))
    session.execute(stmt, [{"b_id": row.id, "b_times": run.times, "b_reason": run.reason} for run, row in pairs])


def _resolve_many(session: Session, pairs: Pairs, now: datetime) -> None:
    if not pairs:
        return
    session.execute(update(ALERTS).where(ALERTS.c.id.in_([row.id for _, row in pairs])).values(
        status=AlertStatus.RESOLVED.value, active_key=None, next_escalation_at=None, resolved_at=now,
        resolved_by=BOT_ACTOR, last_seen=now))
    incidents.add_events(session=session, at=now, actor=BOT_ACTOR, events=[
        (row.incident_id, "alert resolved", f"{run.first.source} reported it resolved")
        for run, row in pairs if row.incident_id is not None])


def _create(session: Session, config: OpsConfig, runs: Sequence[_Run], now: datetime) -> list[int]:
    """Insert new alerts (and the incidents of those whose severity opens one); their ids, in order."""
    if not runs:
        return []
    opening = [run for run in runs if run.severity in config.alerts.incident_severities]
    incident_ids = incidents.open_many(session=session, opened_by=BOT_ACTOR, at=now, items=[
        (run.first.title[:incidents.TITLE_MAX], run.severity, run.first.service) for run in opening])
    incident_of = {run.position: incident_id for run, incident_id in zip(opening, incident_ids, strict=True)}
    rows = [_alert_row(config, run, now, incident_of.get(run.position)) for run in runs]
    ids = insert_many(session, ALERTS, rows, returning_ids=True)
    incidents.add_events(session=session, at=now, actor=BOT_ACTOR, events=[
        (incident_of[run.position], "alert", f"opened automatically from alert #{alert_id}")
        for run, alert_id in zip(runs, ids, strict=True) if run.position in incident_of])
    return ids


def _alert_row(config: OpsConfig, run: _Run, now: datetime, incident_id: int | None) -> dict[str, Any]:
    event = run.first
    return {
        "source": event.source, "dedup_key": event.dedup_key, "active_key": event.dedup_key, "title": event.title,
        "severity": run.severity, "status": AlertStatus.FIRING.value, "service": event.service,
        "reason": run.reason, "details": json.dumps(dict(event.details), sort_keys=True),
        "runbook_url": event.runbook_url, "channel": run.channel, "count": run.times, "first_seen": now,
        "last_seen": now, "escalation_step": 0, "next_escalation_at": first_due(config.alerts, run.severity, now),
        "summarized": False, "incident_id": incident_id,
    }


def enqueue(session: Session, alert: Alert, now: datetime) -> None:
    """Queue one delivery of the alert's current state; a delivery already queued covers this change too."""
    session.flush()
    _enqueue_many(session, {alert.id: alert.channel}, now)


def _enqueue_many(session: Session, alerts: dict[int, str], now: datetime) -> None:
    # INSERT … ON CONFLICT DO NOTHING: a concurrent delivery queuing the same alert waits and skips
    # instead of failing the whole batch on the unique pending_key. In id order: one lock order for all.
    if not alerts:
        return
    rows = [{"alert_id": alert_id, "channel": channel, "pending_key": f"alert:{alert_id}", "created_at": now,
             "not_before": now, "attempts": 0} for alert_id, channel in sorted(alerts.items())]
    insert_many(session, OutboxMessage.__table__, rows, skip_conflicts_on=["pending_key"])  # type: ignore[arg-type]
