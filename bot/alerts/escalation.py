"""Escalation while nobody acknowledges: the state is two columns on the alert, the step is a compare-and-set.

`next_escalation_at` says when the next step is due (NULL: nothing to do); taking step N is
`UPDATE … SET escalation_step = N + 1 WHERE escalation_step = N AND status = 'firing'`, so a restart,
a second replica or a retried pass can never take the same step twice.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.alerts import overrides
from bot.alerts.oncall import on_call
from bot.config import OpsConfig
from bot.config.alerts import AlertSettings, EscalationPolicy
from bot.storage.models import Alert, AlertStatus

LIVE = (AlertStatus.FIRING.value, AlertStatus.ACKNOWLEDGED.value)


@dataclass(frozen=True, slots=True)
class Escalation:
    alert_id: int
    step: int                    # 1-based: the step just taken
    of: int
    users: tuple[str, ...]


def first_due(settings: AlertSettings, severity: str, first_seen: datetime) -> datetime | None:
    policy = settings.escalation.get(severity)
    return first_seen + policy.steps[0].after if policy else None


def due(*, session: Session, now: datetime,
        paused: Callable[[str | None], bool] = lambda service: False) -> list[tuple[int, int]]:
    """(alert id, steps taken) of live alerts whose next step is due; a silenced alert waits out its silence,
    an alert of a `paused` service (in maintenance) waits for the window to end."""
    rows = session.execute(select(Alert.id, Alert.escalation_step, Alert.service).where(
        Alert.status.in_(LIVE), Alert.next_escalation_at <= now,
        (Alert.silenced_until.is_(None)) | (Alert.silenced_until <= now)).order_by(Alert.id))
    return [(int(r[0]), int(r[1])) for r in rows if not paused(r[2])]


def take_step(*, session: Session, config: OpsConfig, alert_id: int, taken: int, now: datetime) -> Escalation | None:
    """Take step `taken + 1` of the alert's policy, exactly once; None if someone else did, or nothing is left."""
    alert = session.get(Alert, alert_id)
    policy = config.alerts.escalation.get(alert.severity) if alert else None
    if alert is None or policy is None or taken >= len(policy.steps):
        session.execute(update(Alert).where(Alert.id == alert_id, Alert.escalation_step == taken)
                        .values(next_escalation_at=None).execution_options(synchronize_session=False))
        return None
    users = resolve_targets(session=session, config=config, notify=policy.steps[taken].notify, now=now)
    # An acknowledged alert escalates only by hand (Escalate): no automatic step follows.
    following = _next_at(policy, taken + 1, alert.first_seen) if alert.status == AlertStatus.FIRING else None
    claimed = session.execute(
        update(Alert).where(Alert.id == alert_id, Alert.escalation_step == taken, Alert.status.in_(LIVE))
        .values(escalation_step=taken + 1, next_escalation_at=following, escalated_to=" ".join(users))
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return Escalation(alert_id, taken + 1, len(policy.steps), users)


def _next_at(policy: EscalationPolicy, index: int, first_seen: datetime) -> datetime | None:
    return first_seen + policy.steps[index].after if index < len(policy.steps) else None


def resolve_targets(*, session: Session, config: OpsConfig, notify: tuple[str, ...], now: datetime) -> tuple[str, ...]:
    users: list[str] = []
    for target in notify:
        if target == "oncall" or target.startswith("oncall:"):
            name = target.partition(":")[2]
            rotation = next((r for r in config.oncall.rotations if not name or r.name == name), None)
            if rotation is not None:
                known = overrides.relevant(session=session, rotation=rotation.name, at=now)
                users.append(on_call(rotation, known, now, default_tz=config.timezone).user_id)
        else:
            users.append(target)
    return tuple(dict.fromkeys(users))
