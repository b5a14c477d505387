"""The audit log: one row per `/ops` invocation or button click, written whatever happens."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.reply import truncate
from bot.storage.db import session_scope
from bot.storage.models import AuditEntry

log = logging.getLogger(__name__)
COMMAND_MAX = 4000


@dataclass(slots=True)
class Attempt:
    """Filled in by the caller while the command runs; written when the `with` block ends."""

    subcommand: str | None = None
    outcome: str = "error"
    error_ref: str | None = None
    detail: str | None = None


@contextmanager
def attempt(
    sessions: sessionmaker[Session], clock: Clock, *, user_id: str, channel_id: str | None, source: str, command: str
) -> Iterator[Attempt]:
    started, at = time.monotonic(), clock()
    entry = Attempt()
    try:
        yield entry
    finally:
        row = AuditEntry(
            at=at, user_id=user_id, channel_id=channel_id, source=source,
            command=truncate(command, COMMAND_MAX), subcommand=entry.subcommand,
            outcome=entry.outcome, error_ref=entry.error_ref,
            duration_ms=int((time.monotonic() - started) * 1000),
            detail=truncate(entry.detail, COMMAND_MAX) if entry.detail else None,
        )
        try:
            with session_scope(sessions) as session:
                session.add(row)
        except SQLAlchemyError:
            log.exception("audit row not written: user=%s outcome=%s ref=%s", user_id, entry.outcome, entry.error_ref)
