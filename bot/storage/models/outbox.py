"""What is still to be sent, each exactly once: alerts' Slack posts and updates, storm summaries, notices."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models.base import Base


class OutboxMessage(Base):
    """A Slack post or update still to be made for an alert. Pending updates of one alert coalesce:
    `pending_key` is unique while unsent, so a new change refreshes the same row instead of adding one."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(64), index=True)
    pending_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    not_before: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))


class StormSummary(Base):
    """One message per channel standing for the alerts a storm folded into it; re-rendered when `dirty`.
    `version` counts the changes; a worker claims the summary (`claimed_until`) and marks it clean only if no
    change came while it was sending, so a crash or a failed send leaves it dirty."""

    __tablename__ = "storm_summaries"

    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    dirty: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]


class Notice(Base):
    """A message to people that must arrive once: a line in a card's thread, or a direct message (each
    target of an escalation step is one row). Queued in the transaction that decided it; the outbox sends it."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)          # e.g. esc:<alert>:<step>:<target>:<ms>
    channel: Mapped[str | None] = mapped_column(String(64))            # a channel post (under `thread`, if set)
    thread: Mapped[str | None] = mapped_column(String(80))             # the card it replies to: "alert:12"
    user: Mapped[str | None] = mapped_column(String(64))               # a direct message to this user
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    not_before: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    done_at: Mapped[datetime | None] = mapped_column(index=True)      # delivered, or given up (see last_error)
    last_error: Mapped[str | None] = mapped_column(String(200))
