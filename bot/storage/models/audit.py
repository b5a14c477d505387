"""The audit log: one row per `/ops` invocation or button click."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models.base import Base


class AuditEntry(Base):
    """One row per `/ops` invocation (or button click), whatever its outcome."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    user_id: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))          # slack | console | button | mention | operation
    command: Mapped[str] = mapped_column(Text)
    subcommand: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))         # ok | usage | not_found | not_allowed | conflict | error
    error_ref: Mapped[str | None] = mapped_column(String(16))
    duration_ms: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)          # e.g. the outcome of a confirmed operation
