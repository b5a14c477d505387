"""Maintenance windows, and the alerts whose messages one held back."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models.base import Base


class MaintenanceWindow(Base):
    """A maintenance window: while it is open, its services' alerts are stored but not posted (held), their
    escalation pauses, and checklists report their checks as in maintenance.

    `key` names it once: `adhoc:<hex>` for one started by hand, `sched:<spec>:<start>` for an occurrence of a
    scheduled window (stored when it first opens; a second replica's insert of the same key does nothing).
    Closing is a compare-and-set on `closed_at`, so its summary is queued once."""

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    services: Mapped[str] = mapped_column(Text)                  # names separated by spaces; "*" for all
    reason: Mapped[str | None] = mapped_column(String(300))
    name: Mapped[str | None] = mapped_column(String(64))         # a scheduled window's name in the config
    channel: Mapped[str] = mapped_column(String(64))             # where it is announced
    started_by: Mapped[str] = mapped_column(String(64))          # a user id, or "schedule"
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]                                    # planned end; set to the end time when ended early
    closed_at: Mapped[datetime | None] = mapped_column(index=True)
    closed_by: Mapped[str | None] = mapped_column(String(64))    # a user id, or "opsbot" when its time ran out
    held: Mapped[int | None] = mapped_column(Integer)            # at close: alerts held during it
    firing: Mapped[int | None] = mapped_column(Integer)          # at close: ... of them still live


class MaintenanceHold(Base):
    """An alert whose Slack messages a maintenance window held back, until the window ends (`released_at`)."""

    __tablename__ = "maintenance_holds"

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    held_at: Mapped[datetime]                                    # first held since it was last released
    released_at: Mapped[datetime | None] = mapped_column(index=True)
