"""Alerts as they come in: the alert itself, the receipts that make a redelivery a no-op, the alerts a
receiver refused, and heartbeats (whose silence is an alert)."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models.base import Base


class AlertStatus(enum.StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Alert(Base):
    """One alarm as people see it: a dedup key's life from first firing to resolution.

    `active_key` equals `dedup_key` while the alert is not resolved and is NULL afterwards; its unique
    constraint makes "one live alert per key" hold on SQLite and PostgreSQL alike, even under races.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))              # sns | alertmanager | webhook
    dedup_key: Mapped[str] = mapped_column(String(255), index=True)
    active_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    severity: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16), index=True)
    service: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text, default="{}")     # JSON: labels, annotations, trigger
    runbook_url: Mapped[str | None] = mapped_column(String(500))
    channel: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    silenced_until: Mapped[datetime | None]
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    summarized: Mapped[bool] = mapped_column(default=False)              # folded into its channel's storm summary
    escalation_step: Mapped[int] = mapped_column(Integer, default=0)     # steps already taken
    next_escalation_at: Mapped[datetime | None] = mapped_column(index=True)   # NULL: nothing more to do
    escalated_to: Mapped[str | None] = mapped_column(String(200))
    notified_at: Mapped[datetime | None]                  # when its own card first reached the channel


class AlertReceipt(Base):
    """A message id a sender may deliver again (SNS retries reuse MessageId): seen once, processed once."""

    __tablename__ = "alert_receipts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)


class RejectedAlert(Base):
    """An alert a receiver refused while keeping the rest of its delivery: why, and what it looked like.
    One row per (receipt, item): a redelivery of the same batch adds nothing."""

    __tablename__ = "rejected_alerts"
    __table_args__ = (UniqueConstraint("receipt", "item", name="uq_rejected_alert"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receiver: Mapped[str] = mapped_column(String(16))            # sns | alertmanager | webhook
    receipt: Mapped[str] = mapped_column(String(200))            # the delivery (see bot.alerts.receive)
    item: Mapped[int] = mapped_column(Integer)                   # the alert's index in the delivery
    received_at: Mapped[datetime] = mapped_column(index=True)
    code: Mapped[str] = mapped_column(String(32))                # bot.alerts.model.Rejection.code
    reason: Mapped[str] = mapped_column(String(300))
    excerpt: Mapped[str] = mapped_column(Text)                   # the start of the alert, made safe


class Heartbeat(Base):
    """A configured heartbeat's beats (bot.alerts.heartbeats): since when it is watched, its last beat, and the
    two counters a missed beat's compare-and-set checks, so a silence fires once across replicas."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    since: Mapped[datetime]                                   # first watched: the first pass or beat that saw it
    last_beat_at: Mapped[datetime | None]
    last_note: Mapped[str | None] = mapped_column(String(200))   # the last beat's `note`, made safe
    beats: Mapped[int] = mapped_column(Integer, default=0)       # beats received, ever
    missed_at: Mapped[datetime | None]                        # when this silence last fired; NULL after a beat
    misses: Mapped[int] = mapped_column(Integer, default=0)      # silences fired, ever
