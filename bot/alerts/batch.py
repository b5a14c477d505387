"""The set-based writes of one delivery (see bot.alerts.pipeline): a few statements whatever its size.

Each writer takes every alert of its kind at once: receipts stamped, repeats counted, alerts resolved, new
alerts created with their incidents and timelines, outbox rows queued. On PostgreSQL the hot ones are single
statements that would otherwise be two round trips (receipts; a storm's counts with their outbox rows).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, String, Table, Text, any_, bindparam, cast, func, select, text, update
from sqlalchemy.orm import Session

from bot import incidents
from bot.alerts.escalation import first_due
from bot.alerts.model import AlertEvent
from bot.config import OpsConfig
from bot.incidents import channels as incident_channels
from bot.reply import CardKind, CardRef
from bot.storage.bulk import insert_many
from bot.storage.models import Alert, AlertReceipt, AlertStatus, OutboxMessage

BOT_ACTOR = "opsbot"
ALERTS: Table = Alert.__table__  # type: ignore[assignment]
OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]


@dataclass(slots=True)
class Run:
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


Pairs = list[tuple[Run, Any]]      # a run and its live alert's row (id, active_key, channel, incident_id)


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


_CLAIM = text("""
WITH before AS (SELECT key, received_at FROM alert_receipts WHERE key = ANY(CAST(:keys AS VARCHAR[]))),
     stamped AS (INSERT INTO alert_receipts (key, received_at)
                 SELECT k, :now FROM unnest(CAST(:keys AS VARCHAR[])) AS k
                 ON CONFLICT (key) DO UPDATE SET received_at = EXCLUDED.received_at
                 RETURNING key, xmax = 0 AS inserted)
SELECT stamped.key, stamped.inserted, before.received_at FROM stamped LEFT JOIN before ON before.key = stamped.key""")


def lock_live(session: Session, keys: list[str]) -> dict[str, Any]:
    """The live alerts of `keys` by key (id, active_key, channel, incident_id), locked in key order."""
    stmt = select(Alert.id, Alert.active_key, Alert.channel, Alert.incident_id)
    if _postgresql(session):        # one array parameter, not one placeholder per key
        stmt = stmt.where(Alert.active_key == any_(cast(bindparam("keys", keys, type_=ARRAY(String)), ARRAY(String))))
    else:
        stmt = stmt.where(Alert.active_key.in_(keys))
    return {row.active_key: row for row in session.execute(stmt.order_by(Alert.active_key).with_for_update())}


def claim_receipts(session: Session, keys: list[str], now: datetime, window: timedelta) -> set[str]:
    """The receipts among `keys` seen within `window` before `now`; all of them are stamped as seen `now`.
    A delivery storing the same receipt at this moment is waited for: it counts as seen."""
    if not keys:
        return set()
    keys = sorted(keys)                         # one lock order for every delivery
    if _postgresql(session):
        # Upserted in one statement; `xmax = 0` tells an inserted row from an updated one. Updated but not
        # in `before` (the statement's snapshot): a concurrent delivery committed it while we waited.
        return {key for key, inserted, at in session.execute(_CLAIM, {"keys": keys, "now": now})
                if not inserted and (at is None or at > now - window)}
    found = dict(session.execute(select(AlertReceipt.key, AlertReceipt.received_at)
                                 .where(AlertReceipt.key.in_(keys)).order_by(AlertReceipt.key)).all())
    if found:
        session.execute(update(AlertReceipt).where(AlertReceipt.key.in_(list(found))).values(received_at=now)
                        .execution_options(synchronize_session=False))
    insert_many(session, AlertReceipt.__table__,  # type: ignore[arg-type]
                [{"key": k, "received_at": now} for k in keys if k not in found])
    return {k for k, at in found.items() if at > now - window}


_BUMP = text("""
WITH bumped AS (UPDATE alerts SET count = alerts.count + u.times, last_seen = :now,
                                  reason = coalesce(u.reason, alerts.reason)
                FROM unnest(CAST(:ids AS INTEGER[]), CAST(:times AS INTEGER[]), CAST(:reasons AS TEXT[]))
                     AS u(id, times, reason)
                WHERE alerts.id = u.id RETURNING alerts.id, alerts.channel)
INSERT INTO outbox (alert_id, channel, pending_key, created_at, not_before, attempts)
SELECT id, channel, 'alert:' || id, :now, :now, 0 FROM bumped ORDER BY id
ON CONFLICT (pending_key) DO NOTHING""")


def bump(session: Session, pairs: Pairs, now: datetime) -> bool:
    """Count repeats of live alerts (already locked), the hot path of a storm: one UPDATE for all of them.
    True if their outbox rows are queued too (PostgreSQL: the same statement)."""
    if not pairs:
        return True
    if _postgresql(session):
        session.execute(_BUMP, {"now": now, "ids": [row.id for _, row in pairs],
                                "times": [run.times for run, _ in pairs], "reasons": [run.reason for run, _ in pairs]})
        return True
    stmt = (update(ALERTS).where(ALERTS.c.id == bindparam("b_id"))
            .values(count=ALERTS.c.count + bindparam("b_times"), last_seen=now,
                    reason=func.coalesce(bindparam("b_reason", type_=Text()), ALERTS.c.reason)))
    session.execute(stmt, [{"b_id": row.id, "b_times": run.times, "b_reason": run.reason} for run, row in pairs])
    return False


def resolve_many(session: Session, pairs: Pairs, now: datetime) -> None:
    if not pairs:
        return
    session.execute(update(ALERTS).where(ALERTS.c.id.in_([row.id for _, row in pairs])).values(
        status=AlertStatus.RESOLVED.value, active_key=None, next_escalation_at=None, resolved_at=now,
        resolved_by=BOT_ACTOR, last_seen=now))
    incidents.add_events(session=session, at=now, actor=BOT_ACTOR, events=[
        (row.incident_id, "alert resolved", f"{run.first.source} reported it resolved")
        for run, row in pairs if row.incident_id is not None])


def create(session: Session, config: OpsConfig, runs: list[Run], now: datetime) -> list[int]:
    """Insert new alerts (and the incidents of those whose severity opens one); their ids, in order."""
    if not runs:
        return []
    opening = [run for run in runs if run.severity in config.alerts.incident_severities]
    incident_ids = incidents.open_many(session=session, opened_by=BOT_ACTOR, at=now, items=[
        (run.first.title[:incidents.TITLE_MAX], run.severity, run.first.service) for run in opening])
    incident_of = {run.position: incident_id for run, incident_id in zip(opening, incident_ids, strict=True)}
    due = {severity: first_due(config, severity, now) for severity in {run.severity for run in runs}}  # once each
    rows = [_alert_row(run, now, incident_of.get(run.position), due[run.severity]) for run in runs]
    ids = insert_many(session, ALERTS, rows, returning_ids=True)
    incidents.add_events(session=session, at=now, actor=BOT_ACTOR, events=[
        (incident_of[run.position], "alert", f"opened automatically from alert #{alert_id}")
        for run, alert_id in zip(runs, ids, strict=True) if run.position in incident_of])
    rooms = config.incidents.channels
    incident_channels.request_many(session=session, prefix=rooms.prefix, requested_by=BOT_ACTOR, at=now, items=[
        (incident_of[run.position], run.first.title, run.channel, CardRef(CardKind.ALERT, str(alert_id)))
        for run, alert_id in zip(runs, ids, strict=True)
        if run.position in incident_of and run.severity in rooms.auto])
    return ids


def _alert_row(run: Run, now: datetime, incident_id: int | None, due: datetime | None) -> dict[str, Any]:
    event = run.first
    return {
        "source": event.source, "dedup_key": event.dedup_key, "active_key": event.dedup_key, "title": event.title,
        "severity": run.severity, "status": AlertStatus.FIRING.value, "service": event.service,
        "reason": run.reason, "details": json.dumps(dict(event.details), sort_keys=True),
        "runbook_url": event.runbook_url, "channel": run.channel, "count": run.times, "first_seen": now,
        "last_seen": now, "escalation_step": 0, "next_escalation_at": due,
        "summarized": False, "incident_id": incident_id,
    }


def enqueue_many(session: Session, alerts: dict[int, str], now: datetime) -> None:
    """Queue one delivery per alert id (-> channel); a delivery already queued for an alert covers it.
    INSERT … ON CONFLICT DO NOTHING: a concurrent delivery queuing the same alert waits and skips instead of
    failing on the unique pending_key. In id order: one lock order for all."""
    insert_many(session, OUTBOX, [
        {"alert_id": alert_id, "channel": channel, "pending_key": f"alert:{alert_id}", "created_at": now,
         "not_before": now, "attempts": 0} for alert_id, channel in sorted(alerts.items())],
        skip_conflicts_on=["pending_key"])
