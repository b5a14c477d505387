"""Destructive operations from proposal to outcome, and the approvals they collect first."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.storage.models.base import Base


class ActionState(enum.StrEnum):
    AWAITING = "awaiting_confirmation"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"          # its lease ran out while running: the replica died, outcome unknown


class PendingAction(Base):
    """A destructive operation (rollback, backup, scale) from proposal to outcome.

    The state column is the once-only guard: confirming is a compare-and-set from
    `awaiting_confirmation` to `running`, so a double click or a retried delivery runs it once.
    One that needs `approvals_required` different people (four-eyes) collects an `action_approvals`
    row per person first; the approval that completes the count makes the compare-and-set.
    While running, the replica running it renews `running_until`; a lease that runs out means that
    replica died, and any replica marks the operation `interrupted` (never re-applied).
    """

    __tablename__ = "pending_actions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))             # rollback | backup | scale | restart
    subject: Mapped[str] = mapped_column(String(64))          # the service or database name
    plan: Mapped[str] = mapped_column(Text)                   # JSON: target, current, desired, params
    state: Mapped[str] = mapped_column(String(24), index=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    channel_id: Mapped[str | None] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(Text)
    running_until: Mapped[datetime | None] = mapped_column(index=True)
    approvals_required: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    approvals: Mapped[list[ActionApproval]] = relationship(
        order_by="ActionApproval.id", cascade="all, delete-orphan", lazy="selectin")


class ActionApproval(Base):
    """One person's Confirm of a pending action. Unique per (action, person): a double click, a retried
    delivery or a racing replica can never count one person twice."""

    __tablename__ = "action_approvals"
    __table_args__ = (UniqueConstraint("action_id", "user_id", name="uq_action_approval"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[str] = mapped_column(String(32), ForeignKey("pending_actions.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
