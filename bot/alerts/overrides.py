"""Stored on-call overrides (`/ops oncall override`)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.oncall import Override
from bot.clock import Clock
from bot.storage.db import session_scope
from bot.storage.models import OncallOverride


def add(*, session: Session, rotation: str, user_id: str, starts_at: datetime, span: timedelta,
        created_by: str) -> Override:
    row = OncallOverride(rotation=rotation, user_id=user_id, starts_at=starts_at, ends_at=starts_at + span,
                         created_by=created_by, created_at=starts_at)
    session.add(row)
    session.flush()
    return Override(row.user_id, row.starts_at, row.ends_at, row.created_at)


def relevant(*, session: Session, rotation: str, at: datetime) -> list[Override]:
    """Overrides of `rotation` that have not ended by `at`."""
    rows = session.scalars(select(OncallOverride).where(OncallOverride.rotation == rotation,
                                                        OncallOverride.ends_at > at)
                           .order_by(OncallOverride.id))
    return [Override(r.user_id, r.starts_at, r.ends_at, r.created_at) for r in rows]


class Overrides:
    """On-call overrides for commands: one transaction per call, at the clock's time."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions, self.clock = sessions, clock

    def add(self, *, rotation: str, user_id: str, span: timedelta, created_by: str) -> Override:
        with session_scope(self.sessions) as session:
            return add(session=session, rotation=rotation, user_id=user_id, starts_at=self.clock(), span=span,
                       created_by=created_by)

    def relevant(self, *, rotation: str) -> list[Override]:
        with session_scope(self.sessions) as session:
            return relevant(session=session, rotation=rotation, at=self.clock())
