"""Escalation while nobody acknowledges: the state is two columns on the alert, the step is a compare-and-set.

`next_escalation_at` says when the next step is due (NULL: nothing to do); taking step N is
`UPDATE … SET escalation_step = N + 1 WHERE escalation_step = N AND status = 'firing'`, so a restart,
a second replica or a retried pass can never take the same step twice.

Alerts take only a policy's unacknowledged steps (`unacknowledged_after`, or its old name `after`); its
`unresolved_after` steps belong to incidents (bot.alerts.incident_escalation). A step an alert takes counts
for its incident too: the incident's own count moves up to it in the same transaction, so the alert and
the incident it opened never page twice for the same step. Under `business_hours` a step's wait counts only
business time (bot.business_time).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import business_time
from bot.alerts import overrides
from bot.alerts.oncall import on_call
from bot.config import OpsConfig
from bot.config.alerts import EscalationPolicy
from bot.storage.models import Alert, AlertStatus, Incident, IncidentStatus

LIVE = (AlertStatus.FIRING.value, AlertStatus.ACKNOWLEDGED.value)


@dataclass(frozen=True, slots=True)
class Escalation:
    """A step just taken: of an alert (`alert_id`) or of an incident (`incident_id`, `alert_id` None)."""

    alert_id: int | None
    step: int                    # 1-based: the step just taken
    of: int
    users: tuple[str, ...]
    incident_id: int | None = None
    unresolved: bool = False     # an `unresolved_after` step (incidents only)


def next_index(policy: EscalationPolicy, taken: int, *, unacknowledged: bool, unresolved: bool) -> int | None:
    """The index of the first step at or after `taken` of the kinds asked for (None: none is left)."""
    return next((i for i in range(max(taken, 0), len(policy.steps))
                 if (unresolved if policy.steps[i].unresolved else unacknowledged)), None)


def due_at(config: OpsConfig, policy: EscalationPolicy, index: int, start: datetime) -> datetime:
    """When step `index` falls due for something that started at `start`: its wait later, counted in business
    time when the policy has business hours."""
    calendar = policy.calendar(config.timezone)
    wait = policy.steps[index].wait
    return start + wait if calendar is None else business_time.add(calendar, start, wait)


def first_due(config: OpsConfig, severity: str, first_seen: datetime) -> datetime | None:
    """When a new alert's first step falls due (None: its severity has no unacknowledged step)."""
    policy = config.alerts.escalation.get(severity)
    return _next_at(config, policy, 0, first_seen) if policy else None


def due(*, session: Session, now: datetime,
        paused: Callable[[str | None], bool] = lambda service: False) -> list[tuple[int, int]]:
    """(alert id, steps taken) of live alerts whose next step is due; a silenced alert waits out its silence,
    an alert of a `paused` service (in maintenance) waits for the window to end."""
    rows = session.execute(select(Alert.id, Alert.escalation_step, Alert.service).where(
        Alert.status.in_(LIVE), Alert.next_escalation_at <= now,
        (Alert.silenced_until.is_(None)) | (Alert.silenced_until <= now)).order_by(Alert.id))
    return [(int(r[0]), int(r[1])) for r in rows if not paused(r[2])]


def take_step(*, session: Session, config: OpsConfig, alert_id: int, taken: int, now: datetime) -> Escalation | None:
    """Take the alert's next unacknowledged step after `taken`, exactly once; None if someone else did, or
    nothing is left. Its incident counts the step as taken too."""
    alert = session.get(Alert, alert_id)
    policy = config.alerts.escalation.get(alert.severity) if alert else None
    index = next_index(policy, taken, unacknowledged=True, unresolved=False) if policy else None
    if alert is None or policy is None or index is None:
        session.execute(update(Alert).where(Alert.id == alert_id, Alert.escalation_step == taken)
                        .values(next_escalation_at=None).execution_options(synchronize_session=False))
        return None
    users = resolve_targets(session=session, config=config, notify=policy.steps[index].notify, now=now)
    # An acknowledged alert escalates only by hand (Escalate): no automatic step follows.
    following = _next_at(config, policy, index + 1, alert.first_seen) if alert.status == AlertStatus.FIRING else None
    claimed = session.execute(
        update(Alert).where(Alert.id == alert_id, Alert.escalation_step == taken, Alert.status.in_(LIVE))
        .values(escalation_step=index + 1, next_escalation_at=following, escalated_to=" ".join(users))
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    if alert.incident_id is not None:
        count_for_incident(session=session, incident_id=alert.incident_id, taken=index + 1)
    return Escalation(alert_id, index + 1, len(policy.steps), users)


def count_for_incident(*, session: Session, incident_id: int, taken: int) -> None:
    """The incident has had its first `taken` steps (its alert took one of them): it never takes them again.
    Only ever raises the count; an incident that never escalates (NULL) is left alone."""
    session.execute(update(Incident).where(
        Incident.id == incident_id, Incident.escalation_step < taken, Incident.status != IncidentStatus.RESOLVED.value)
        .values(escalation_step=taken).execution_options(synchronize_session=False))


def _next_at(config: OpsConfig, policy: EscalationPolicy, taken: int, first_seen: datetime) -> datetime | None:
    index = next_index(policy, taken, unacknowledged=True, unresolved=False)
    return due_at(config, policy, index, first_seen) if index is not None else None


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
