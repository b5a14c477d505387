"""The audit log: one row per `/ops` invocation or button click, written whatever happens, and one row for
the outcome of every confirmed operation (written by the operation runner, in the same transaction)."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.errors import AuditOutcome
from bot.reply import truncate
from bot.storage.db import session_scope
from bot.storage.models import AuditEntry

log = logging.getLogger(__name__)
COMMAND_MAX = 4000


@dataclass(slots=True)
class Attempt:
    """Filled in by the caller while the command runs; written when the `with` block ends."""

    subcommand: str | None = None
    outcome: AuditOutcome = AuditOutcome.ERROR
    error_ref: str | None = None
    detail: str | None = None


def entry(*, at: datetime, user_id: str, channel_id: str | None, source: str, command: str,
          subcommand: str | None, outcome: AuditOutcome, duration_ms: int = 0, error_ref: str | None = None,
          detail: str | None = None) -> AuditEntry:
    """An audit row, for a caller that writes it in its own transaction."""
    return AuditEntry(at=at, user_id=user_id, channel_id=channel_id, source=source,
                      command=truncate(command, COMMAND_MAX), subcommand=subcommand, outcome=outcome.value,
                      error_ref=error_ref, duration_ms=duration_ms,
                      detail=truncate(detail, COMMAND_MAX) if detail else None)


@contextmanager
def attempt(
    sessions: sessionmaker[Session], clock: Clock, *, user_id: str, channel_id: str | None, source: str, command: str
) -> Iterator[Attempt]:
    started, at = time.monotonic(), clock()
    state = Attempt()
    try:
        yield state
    finally:
        row = entry(at=at, user_id=user_id, channel_id=channel_id, source=source, command=command,
                    subcommand=state.subcommand, outcome=state.outcome, error_ref=state.error_ref,
                    duration_ms=int((time.monotonic() - started) * 1000), detail=state.detail)
        try:
            with session_scope(sessions) as session:
                session.add(row)
        except SQLAlchemyError:
            log.exception("audit row not written: user=%s outcome=%s ref=%s", user_id, state.outcome, state.error_ref)
