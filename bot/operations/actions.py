"""Pending destructive operations as rows: propose a plan, claim it exactly once on confirmation, keep its
lease while it runs, record how it ended.

"Exactly once" is a row, not a flag: `approve()` records a person's Confirm and, when that completes the
number of approvals the action needs (one, or more for four-eyes), moves it to `running` with a
compare-and-set on `state` in the same transaction, so two clicks, two replicas or a Slack retry can never both
win. A running operation's replica renews `running_until`; when a lease runs out, `interrupt_expired()` marks
the operation `interrupted` (compare-and-set again), on any replica.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from bot.errors import ConflictError, NotFoundError
from bot.storage.models import ActionApproval, ActionState, PendingAction
from integrations.base import PLAN, Plan

CONFIRM_WITHIN = timedelta(minutes=15)
LIVE = (ActionState.RUNNING.value,)
# An operation confirmed by a version before leases (running_until NULL) may still be running on an old
# replica during a rolling upgrade: it counts as dead only this long after it was confirmed.
NO_LEASE_GRACE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Approval:
    user: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ActionRecord:
    id: str
    kind: str
    subject: str
    plan: Plan
    state: ActionState
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    channel_id: str | None
    decided_by: str | None
    decided_at: datetime | None
    finished_at: datetime | None
    outcome: str | None
    running_until: datetime | None
    approvals_required: int = 1
    approvals: tuple[Approval, ...] = ()          # in the order they were given

    def expired(self, now: datetime) -> bool:
        return self.state is ActionState.AWAITING and now >= self.expires_at

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(a.user for a in self.approvals)

    @property
    def approvals_missing(self) -> int:
        return max(0, self.approvals_required - len(self.approvals))


def _record(row: PendingAction) -> ActionRecord:
    return ActionRecord(
        id=row.id, kind=row.kind, subject=row.subject, plan=PLAN.validate_json(row.plan), state=ActionState(row.state),
        requested_by=row.requested_by, requested_at=row.requested_at, expires_at=row.expires_at,
        channel_id=row.channel_id, decided_by=row.decided_by, decided_at=row.decided_at,
        finished_at=row.finished_at, outcome=row.outcome, running_until=row.running_until,
        approvals_required=row.approvals_required, approvals=tuple(Approval(a.user_id, a.at) for a in row.approvals),
    )


def _load(session: Session, action_id: str, *, for_update: bool = False) -> PendingAction:
    stmt = select(PendingAction).where(PendingAction.id == action_id)
    row = session.scalars(stmt.with_for_update() if for_update else stmt).one_or_none()
    if row is None:
        raise NotFoundError(f"There is no pending action `{action_id[:32]}`.")
    return row


def propose(*, session: Session, plan: Plan, subject: str, requested_by: str, channel_id: str | None,
            at: datetime, approvals: int = 1) -> ActionRecord:
    """Store a plan awaiting `approvals` Confirms by different people (see approve())."""
    row = PendingAction(
        id=secrets.token_hex(8), kind=plan.kind, subject=subject, plan=PLAN.dump_json(plan).decode(),
        state=ActionState.AWAITING.value, requested_by=requested_by, requested_at=at,
        expires_at=at + CONFIRM_WITHIN, channel_id=channel_id, approvals_required=approvals, approvals=[],
    )
    session.add(row)
    session.flush()
    return _record(row)


def get(*, session: Session, action_id: str) -> ActionRecord:
    return _record(_load(session, action_id))


def _decide(session: Session, row: PendingAction, *, user: str, at: datetime, to: ActionState,
            running_until: datetime | None = None) -> ActionRecord:
    """Move a locked, awaiting, unexpired action to `to`: a compare-and-set, so it happens once."""
    result = session.execute(
        update(PendingAction)
        .where(PendingAction.id == row.id, PendingAction.state == ActionState.AWAITING.value,
               PendingAction.expires_at > at)
        .values(state=to.value, decided_by=user, decided_at=at, running_until=running_until)
        .execution_options(synchronize_session=False)
    )
    session.refresh(row)
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return _record(row)
    raise ConflictError(_why_not(_record(row), at))


def approve(*, session: Session, action_id: str, user: str, at: datetime, lease: timedelta,
            allowed: Callable[[ActionRecord], None]) -> ActionRecord:
    """Record `user`'s Confirm of an awaiting, unexpired action. The one that completes its
    `approvals_required` also moves it to `running` for `user` under a lease, in the same transaction; the
    record returned is `running` then (run it), and still awaiting when it needs more approvals.

    The row stays locked from the check to the change, so two simultaneous last approvals (two replicas,
    two people) count in turn: one runs it, the other gets a ConflictError saying who did. `allowed` (the
    role and the four-eyes rule) raises to refuse; ConflictError when it was decided already or expired."""
    row = _load(session, action_id, for_update=True)
    action = _record(row)
    if action.state is not ActionState.AWAITING or action.expired(at):
        raise ConflictError(_why_not(action, at))
    allowed(action)
    # unique (action, person): should two transactions ever get past the lock, the database refuses the second
    row.approvals.append(ActionApproval(user_id=user, at=at))
    session.flush()
    if len(row.approvals) < row.approvals_required:
        return _record(row)
    return _decide(session, row, user=user, at=at, to=ActionState.RUNNING, running_until=at + lease)


def cancel(*, session: Session, action_id: str, user: str, at: datetime,
           allowed: Callable[[ActionRecord], None]) -> ActionRecord:
    """Whatever `allowed` raises (NotAllowedError) refuses it unchanged (under the row's lock)."""
    row = _load(session, action_id, for_update=True)
    allowed(_record(row))
    return _decide(session, row, user=user, at=at, to=ActionState.CANCELLED)


def _why_not(action: ActionRecord, now: datetime) -> str:
    if action.expired(now):
        given = (f" ({len(action.approvals)} of {action.approvals_required} approvals)"
                 if action.approvals_required > 1 else "")
        return (f"This {action.kind} request expired at {action.expires_at:%H:%M} UTC without confirmation"
                f"{given}; nothing was changed. Ask again with `/ops {action.kind} {action.subject}`.")
    who = f"<@{action.decided_by}>" if action.decided_by else "someone"
    verb = {ActionState.RUNNING: "already confirmed and running", ActionState.SUCCEEDED: "already done",
            ActionState.FAILED: "already run (it failed)", ActionState.CANCELLED: "cancelled",
            ActionState.INTERRUPTED: "already run, and interrupted"}.get(action.state, action.state.value)
    return f"This {action.kind} was {verb} — decided by {who}. Nothing more was done."


def finish(*, session: Session, action_id: str, ok: bool, summary: str, at: datetime) -> ActionRecord:
    """Record how a running operation ended. One marked interrupted meanwhile (its lease ran out while this
    replica could not renew it) gets its real outcome after all."""
    row = _load(session, action_id, for_update=True)
    row.state = (ActionState.SUCCEEDED if ok else ActionState.FAILED).value
    row.finished_at, row.outcome, row.running_until = at, summary, None
    session.flush()
    return _record(row)


def start(*, session: Session, action_id: str, until: datetime) -> bool:
    """An operation that waited for a free worker may start only if it is still `running` (not interrupted
    meanwhile): a compare-and-set that also renews its lease."""
    result = session.execute(
        update(PendingAction).where(PendingAction.id == action_id, PendingAction.state.in_(LIVE))
        .values(running_until=until).execution_options(synchronize_session=False))
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def renew(*, session: Session, action_ids: Collection[str], until: datetime) -> int:
    """Extend the lease of running operations this replica is running; how many still ran."""
    if not action_ids:
        return 0
    result = session.execute(
        update(PendingAction).where(PendingAction.id.in_(list(action_ids)), PendingAction.state.in_(LIVE))
        .values(running_until=until).execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def interrupt_expired(*, session: Session, now: datetime, summary: Callable[[ActionRecord], str],
                      exclude: Collection[str] = (), only: Collection[str] | None = None,
                      ignore_lease: bool = False) -> list[ActionRecord]:
    """Mark running operations whose lease ran out (any, with `ignore_lease`) `interrupted`, once each: whoever
    gets there first. `exclude` skips operations this replica is running; `only` limits it to those ids."""
    stmt = select(PendingAction.id).where(PendingAction.state.in_(LIVE))
    if not ignore_lease:
        stmt = stmt.where(_lease_over(now))
    if only is not None:
        stmt = stmt.where(PendingAction.id.in_(list(only)))
    done = []
    for action_id in session.scalars(stmt).all():
        if action_id in exclude:
            continue
        row = _load(session, action_id, for_update=True)
        lease_left = (row.running_until >= now if row.running_until is not None else
                      row.decided_at is None or row.decided_at >= now - NO_LEASE_GRACE)
        if row.state not in LIVE or (lease_left and not ignore_lease):
            continue
        row.state, row.finished_at, row.running_until = ActionState.INTERRUPTED.value, now, None
        row.outcome = summary(_record(row))
        session.flush()
        done.append(_record(row))
    return done


def _lease_over(now: datetime) -> ColumnElement[bool]:
    return or_(PendingAction.running_until < now,
               and_(PendingAction.running_until.is_(None), PendingAction.decided_at < now - NO_LEASE_GRACE))
