"""Time-driven changes to alerts: auto-resolve quiet ones, re-fire acknowledged ones left unresolved, and
forget delivery receipts older than the redelivery window.

Each change is a conditional UPDATE on the row's current state, so replicas and restarts apply it once.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot import business_time, incidents
from bot.alerts.escalation import LIVE, next_index
from bot.alerts.pipeline import BOT_ACTOR, RECEIPT_WINDOW, enqueue
from bot.config.alerts import AlertSettings
from bot.storage.models import Alert, AlertReceipt, AlertStatus


def auto_resolve(*, session: Session, settings: AlertSettings, now: datetime) -> list[int]:
    """Resolve live alerts with no new firing for `auto_resolve_after`; returns their ids."""
    if settings.auto_resolve_after is None:
        return []
    cutoff = now - settings.auto_resolve_after
    ids = session.scalars(select(Alert.id).where(Alert.status.in_(LIVE), Alert.last_seen < cutoff)).all()
    done = []
    for alert_id in ids:
        changed = session.execute(
            update(Alert).where(Alert.id == alert_id, Alert.status.in_(LIVE), Alert.last_seen < cutoff)
            .values(status=AlertStatus.RESOLVED.value, active_key=None, next_escalation_at=None, resolved_at=now,
                    resolved_by=BOT_ACTOR).execution_options(synchronize_session=False))
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            done.append(alert_id)
            _touched(session, alert_id, now, "auto-resolved",
                     f"no new firing for {settings.auto_resolve_after}; resolved automatically")
    return done


def prune_receipts(*, session: Session, now: datetime) -> int:
    """Delete receipts not seen within the redelivery window (ingest ignores them anyway); how many."""
    result = session.execute(delete(AlertReceipt).where(AlertReceipt.received_at <= now - RECEIPT_WINDOW)
                             .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def refire_stale_acks(*, session: Session, settings: AlertSettings, now: datetime, zone: str = "UTC") -> list[int]:
    """Acknowledged longer than `ack_timeout` and still unresolved: back to firing, escalation restarts (at
    once, or when business hours next open for a policy that has them; `zone`: the config's timezone)."""
    if settings.ack_timeout is None:
        return []
    cutoff = now - settings.ack_timeout
    rows = session.execute(select(Alert.id, Alert.severity).where(
        Alert.status == AlertStatus.ACKNOWLEDGED.value, Alert.acknowledged_at < cutoff)).all()
    done = []
    for alert_id, severity in rows:
        changed = session.execute(
            update(Alert).where(Alert.id == alert_id, Alert.status == AlertStatus.ACKNOWLEDGED.value,
                                Alert.acknowledged_at < cutoff)
            .values(status=AlertStatus.FIRING.value, acknowledged_at=None, acknowledged_by=None, escalation_step=0,
                    # with a policy, re-notify at once by restarting escalation from its first step
                    next_escalation_at=_restart_at(settings, severity, now, zone))
            .execution_options(synchronize_session=False))
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            done.append(int(alert_id))
            _touched(session, int(alert_id), now, "ack timed out",
                     f"acknowledged but unresolved for {settings.ack_timeout}; firing again")
    return done


def _restart_at(settings: AlertSettings, severity: str, now: datetime, zone: str) -> datetime | None:
    policy = settings.escalation.get(severity)
    if policy is None or next_index(policy, 0, unacknowledged=True, unresolved=False) is None:
        return None
    calendar = policy.calendar(zone)
    return now if calendar is None else business_time.add(calendar, now, timedelta(0))


def _touched(session: Session, alert_id: int, now: datetime, kind: str, note: str) -> None:
    row = session.get(Alert, alert_id)
    if row is None:
        return
    session.refresh(row)
    enqueue(session, row, now)
    if row.incident_id is not None:
        incidents.add_event(session=session, incident_id=row.incident_id, at=now, kind=kind, actor=BOT_ACTOR, note=note)
