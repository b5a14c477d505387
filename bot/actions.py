"""Pending destructive actions: propose a plan, claim it exactly once on confirmation, record the outcome.

"Exactly once" is a row, not a flag: `claim()` is a compare-and-set on `state`, so two clicks, two
replicas or a Slack retry can never both win.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.errors import ConflictError, NotFoundError
from bot.storage.models import ActionState, PendingAction
from integrations.base import PLAN, Plan

__all__ = ["ActionRecord", "ActionState", "attach_message", "cancel", "claim", "finish", "get", "pending", "propose"]
CONFIRM_WITHIN = timedelta(minutes=15)
FINAL = (ActionState.SUCCEEDED, ActionState.FAILED, ActionState.CANCELLED)


@dataclass(frozen=True, slots=True)
class ActionRecord:
    id: str
    kind: str
    subject: str
    plan: Plan
    state: str
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    channel_id: str | None
    slack_ts: str | None
    decided_by: str | None
    decided_at: datetime | None
    finished_at: datetime | None
    outcome: str | None

    def expired(self, now: datetime) -> bool:
        return self.state == ActionState.AWAITING and now >= self.expires_at


def _record(row: PendingAction) -> ActionRecord:
    return ActionRecord(
        id=row.id, kind=row.kind, subject=row.subject, plan=PLAN.validate_json(row.plan), state=row.state,
        requested_by=row.requested_by, requested_at=row.requested_at, expires_at=row.expires_at,
        channel_id=row.channel_id, slack_ts=row.slack_ts, decided_by=row.decided_by, decided_at=row.decided_at,
        finished_at=row.finished_at, outcome=row.outcome,
    )


def _load(session: Session, action_id: str) -> PendingAction:
    row = session.get(PendingAction, action_id)
    if row is None:
        raise NotFoundError(f"There is no pending action `{action_id[:32]}`.")
    return row


def propose(
    *, session: Session, kind: str, subject: str, plan: Plan, requested_by: str,
    channel_id: str | None, at: datetime,
) -> ActionRecord:
    row = PendingAction(
        id=secrets.token_hex(8), kind=kind, subject=subject, plan=PLAN.dump_json(plan).decode(),
        state=ActionState.AWAITING.value, requested_by=requested_by, requested_at=at,
        expires_at=at + CONFIRM_WITHIN, channel_id=channel_id,
    )
    session.add(row)
    session.flush()
    return _record(row)


def get(*, session: Session, action_id: str) -> ActionRecord:
    return _record(_load(session, action_id))


def _decide(session: Session, action_id: str, *, user: str, at: datetime, to: ActionState) -> ActionRecord:
    result = session.execute(
        update(PendingAction)
        .where(PendingAction.id == action_id, PendingAction.state == ActionState.AWAITING.value,
               PendingAction.expires_at > at)
        .values(state=to.value, decided_by=user, decided_at=at)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        session.expire_all()
        return _record(_load(session, action_id))
    raise ConflictError(_why_not(_record(_load(session, action_id)), at))


def claim(*, session: Session, action_id: str, user: str, at: datetime) -> ActionRecord:
    """Move the action to `running` for `user`; ConflictError says who got there first (or that it expired)."""
    return _decide(session, action_id, user=user, at=at, to=ActionState.RUNNING)


def cancel(*, session: Session, action_id: str, user: str, at: datetime) -> ActionRecord:
    return _decide(session, action_id, user=user, at=at, to=ActionState.CANCELLED)


def _why_not(action: ActionRecord, now: datetime) -> str:
    if action.expired(now):
        return (f"This {action.kind} request expired at {action.expires_at:%H:%M} UTC without confirmation; "
                f"nothing was changed. Ask again with `/ops {action.kind} {action.subject}`.")
    who = f"<@{action.decided_by}>" if action.decided_by else "someone"
    verb = {ActionState.RUNNING: "already confirmed and running", ActionState.SUCCEEDED: "already done",
            ActionState.FAILED: "already run (it failed)", ActionState.CANCELLED: "cancelled"}.get(
        ActionState(action.state), action.state)
    return f"This {action.kind} was {verb} — decided by {who}. Nothing more was done."


def finish(*, session: Session, action_id: str, ok: bool, summary: str, at: datetime) -> ActionRecord:
    row = _load(session, action_id)
    row.state = (ActionState.SUCCEEDED if ok else ActionState.FAILED).value
    row.finished_at, row.outcome = at, summary
    session.flush()
    return _record(row)


def attach_message(*, session: Session, action_id: str, channel: str, ts: str) -> None:
    row = _load(session, action_id)
    row.channel_id, row.slack_ts = channel, ts


def pending(*, session: Session) -> list[ActionRecord]:
    stmt = select(PendingAction).where(PendingAction.state == ActionState.AWAITING.value)
    return [_record(r) for r in session.scalars(stmt.order_by(PendingAction.requested_at))]
