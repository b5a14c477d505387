"""Escalation of incidents, acknowledged or not, by the same per-severity policies as alerts (`alerts.escalation`).

Which steps an incident takes: while it is open (nobody acknowledged it) every step of its severity's policy,
once acknowledged only the `unresolved_after` ones, once resolved none. Each falls due its wait after the
incident opened, counted in business time when the policy has `business_hours`. An incident opened by hand
(`/ops incident open`) escalates exactly like one opened by an alert.

When the next step falls due is worked out each pass from the policy and the row (opened_at, status,
escalation_step), so acknowledging or resolving needs no bookkeeping and the config read at startup applies
to every unresolved incident. Taking a step is a compare-and-set on `escalation_step` and the status that
was read: two replicas, a restart or a retried pass take it once, and a step never goes out after the
acknowledgement or resolution that made it moot.

One page per step for an alert and the incident it opened:
- An unacknowledged step of an incident that has a firing alert is the alert's to take (in the alert card's
  thread, where the responders already are); the incident waits for it. When the alert takes it, the
  incident's count moves up in the same transaction (bot.alerts.escalation.count_for_incident), so the
  incident never takes it again. If the alert stops firing before that (it resolved, say) and the incident
  is still unacknowledged, the incident takes the step itself.
- `unresolved_after` steps are only ever the incident's: alerts never take them.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from bot.alerts.escalation import Escalation, due_at, next_index, resolve_targets
from bot.config import OpsConfig
from bot.config.alerts import EscalationPolicy
from bot.storage.models import Alert, AlertStatus, Incident, IncidentStatus

RESOLVED = IncidentStatus.RESOLVED.value


def next_step(policy: EscalationPolicy, taken: int, status: str) -> int | None:
    """The index of the incident's next step: any kind while open, `unresolved_after` once acknowledged."""
    if status == RESOLVED:
        return None
    return next_index(policy, taken, unacknowledged=status == IncidentStatus.OPEN.value, unresolved=True)


def due(*, session: Session, config: OpsConfig, now: datetime,
        paused: Callable[[str | None], bool] = lambda service: False) -> list[tuple[int, int]]:
    """(incident id, steps taken) of unresolved incidents whose next step is due; an incident whose service
    `paused` says is in a maintenance window waits."""
    policies = config.alerts.escalation
    if not policies:
        return []
    rows = session.execute(select(Incident.id, Incident.severity, Incident.status, Incident.opened_at,
                                  Incident.escalation_step, Incident.service)
                           .where(Incident.status != RESOLVED, Incident.severity.in_(list(policies)),
                                  Incident.escalation_step.is_not(None)).order_by(Incident.id)).all()
    found = []
    for incident_id, severity, status, opened_at, taken, service in rows:
        if paused(service):
            continue
        policy = policies[severity]
        index = next_step(policy, taken, status) if taken is not None else None
        if index is not None and due_at(config, policy, index, opened_at) <= now:
            found.append((int(incident_id), int(taken or 0)))
    return found


def take_step(*, session: Session, config: OpsConfig, incident_id: int, taken: int,
              now: datetime) -> Escalation | None:
    """Take the incident's next step after `taken` if it is due, exactly once; None if someone else did, it
    is not due (any more), or a firing alert of the incident takes it instead."""
    row = session.get(Incident, incident_id)
    policy = config.alerts.escalation.get(row.severity) if row is not None else None
    if row is None or policy is None or row.escalation_step != taken:
        return None
    index = next_step(policy, taken, row.status)
    if index is None or due_at(config, policy, index, row.opened_at) > now:
        return None
    step = policy.steps[index]
    if not step.unresolved and firing_alert(session=session, incident_id=incident_id):
        return None                                   # the alert's step; it counts it for the incident
    notify = list(step.notify)
    # Steps overdue together (the incident waited out a maintenance window, or the bot was down) go out as
    # one message to all their people, not one page per pass a few seconds apart.
    while (later := next_step(policy, index + 1, row.status)) is not None \
            and due_at(config, policy, later, row.opened_at) <= now:
        index, step = later, policy.steps[later]
        notify += [n for n in step.notify if n not in notify]
    users = resolve_targets(session=session, config=config, notify=tuple(notify), now=now)
    claimed = session.execute(
        update(Incident).where(Incident.id == incident_id, Incident.escalation_step == taken,
                               Incident.status == row.status)
        .values(escalation_step=index + 1).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return Escalation(None, index + 1, len(policy.steps), users, incident_id=incident_id, unresolved=step.unresolved)


def firing_alert(*, session: Session, incident_id: int) -> bool:
    """Whether an alert of the incident is firing with a step of its own still to take (one whose policy
    was added after it fired has none, so it covers nothing)."""
    return bool(session.scalar(select(exists().where(
        Alert.incident_id == incident_id, Alert.status == AlertStatus.FIRING.value,
        Alert.next_escalation_at.is_not(None)))))
