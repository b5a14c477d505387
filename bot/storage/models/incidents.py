"""Incidents: the incident, its timeline, and its own Slack channel from request to archiving."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.storage.models.base import Base


class IncidentStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16), default=IncidentStatus.OPEN.value, index=True)
    service: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime]
    opened_by: Mapped[str] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    # Steps of its severity's escalation policy already taken (here, or by its alert). When the next falls
    # due is worked out from the policy each pass (bot.alerts.incident_escalation); taking a step is a
    # compare-and-set on this count, so replicas and restarts take each step once. NULL: opened before
    # incidents escalated (migration 0013), so it never does.
    escalation_step: Mapped[int | None] = mapped_column(Integer, default=0, server_default="0")

    events: Mapped[list[IncidentEvent]] = relationship(
        back_populates="incident", order_by="IncidentEvent.id", cascade="all, delete-orphan"
    )


class IncidentEvent(Base):
    """One line of an incident's timeline: opened, acknowledged, resolved, a note."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)

    incident: Mapped[Incident] = relationship(back_populates="events")


class IncidentChannel(Base):
    """An incident's own Slack channel, from the request to its archiving: one row per incident, so it is asked
    for once whatever retries or replicas do. The Slack layer works through it step by step (create, invite,
    post and pin the card, mirror the timeline, archive), claiming the row (`claimed_until`) for each pass and
    recording each step as done; `create_started_at` is set, and committed, before conversations.create is
    called, so a crash or a lost answer leads to looking the name up instead of creating a second channel."""

    __tablename__ = "incident_channels"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))                 # without '#'; suffixed when the name is taken
    channel_id: Mapped[str | None] = mapped_column(String(32))    # Slack's id, once created (or found)
    state: Mapped[str] = mapped_column(String(16), index=True)    # creating | ready | failed | archiving | archived
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    origin_channel: Mapped[str | None] = mapped_column(String(64))   # where "the channel is ready" is said
    origin_thread: Mapped[str | None] = mapped_column(String(80))    # ... under this card ("incident:12")
    create_started_at: Mapped[datetime | None]
    invited_at: Mapped[datetime | None]
    pinned_at: Mapped[datetime | None]
    mirrored_through: Mapped[int] = mapped_column(Integer, default=0)   # the last timeline event posted there
    archive_requested_by: Mapped[str | None] = mapped_column(String(64))
    archived_at: Mapped[datetime | None]
    not_before: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
