"""Scheduled work: checklist and report runs (one per slot), and APScheduler's own job store table."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, LargeBinary, String, Text, Unicode, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.storage.models.base import Base


class ChecklistRun(Base):
    """One run of a checklist. A scheduled run is unique per (checklist, scheduled_for): a second replica or
    a restart that tries the same slot gets an IntegrityError and does nothing."""

    __tablename__ = "checklist_runs"
    __table_args__ = (UniqueConstraint("checklist", "scheduled_for", name="uq_checklist_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checklist: Mapped[str] = mapped_column(String(64), index=True)
    scheduled_for: Mapped[datetime]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    trigger: Mapped[str] = mapped_column(String(16))             # schedule | manual
    requested_by: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(8))               # ok|warn|fail|error|running|skipped
    summary: Mapped[str | None] = mapped_column(Text)
    posted_at: Mapped[datetime | None]                   # when its report reached the channel (scheduled runs)
    items: Mapped[list[ChecklistItem]] = relationship(order_by="ChecklistItem.position", cascade="all, delete-orphan")


class ChecklistItem(Base):
    __tablename__ = "checklist_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("checklist_runs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(300))
    result: Mapped[str] = mapped_column(String(8))               # ok | warn | fail | todo | done | maint
    reason: Mapped[str | None] = mapped_column(Text)
    done_by: Mapped[str | None] = mapped_column(String(64))
    done_at: Mapped[datetime | None]
    details: Mapped[str | None] = mapped_column(Text)            # every finding, for the report's thread


class ReportRun(Base):
    """One slot of a scheduled report, unique per (report, scheduled_for) like checklist runs."""

    __tablename__ = "report_runs"
    __table_args__ = (UniqueConstraint("report", "scheduled_for", name="uq_report_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report: Mapped[str] = mapped_column(String(64), index=True)
    scheduled_for: Mapped[datetime]
    started_at: Mapped[datetime]
    result: Mapped[str] = mapped_column(String(8))               # running | posted | failed | skipped
    summary: Mapped[str | None] = mapped_column(Text)
    posted_at: Mapped[datetime | None]


class SchedulerJob(Base):
    """APScheduler 3's SQLAlchemyJobStore table (it reads and writes it; we only own its migration and clean it)."""

    __tablename__ = "apscheduler_jobs"

    id: Mapped[str] = mapped_column(Unicode(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25), index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary)
