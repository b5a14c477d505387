"""The audit log: one row per `/ops` invocation or button click, written whatever happens, and one row for
the outcome of every confirmed operation (written by the operation runner, in the same transaction).

A row is written whatever the command held: text is made storable in both databases first (PostgreSQL
text cannot hold NUL, and neither database driver encodes a lone surrogate), keeping it readable: a NUL
is stored as ␀ (U+2400), a lone surrogate as � (U+FFFD), and anything that is not text as its str().
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.errors import AuditOutcome
from bot.reply import truncate
from bot.storage.db import session_scope
from bot.storage.models import AuditEntry

log = logging.getLogger(__name__)
COMMAND_MAX = 4000
ID_MAX, SUBCOMMAND_MAX = 64, 32                 # the widths of audit_log.user_id/channel_id and .subcommand
WRITE_ATTEMPTS = 3
NUL_SIGN, REPLACEMENT = "\u2400", "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(value: object, limit: int) -> str:
    """`value` as text both databases store, cut to `limit` characters."""
    text = value if isinstance(value, str) else "" if value is None else str(value)
    text = truncate(text, limit)
    if text.isascii() and "\x00" not in text:
        return text
    return _SURROGATE.sub(REPLACEMENT, text.replace("\x00", NUL_SIGN))


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
    """An audit row, for a caller that writes it in its own transaction; every text made storable."""
    return AuditEntry(at=at, user_id=storable(user_id, ID_MAX) or "?",
                      channel_id=storable(channel_id, ID_MAX) if channel_id is not None else None, source=source,
                      command=storable(command, COMMAND_MAX),
                      subcommand=storable(subcommand, SUBCOMMAND_MAX) if subcommand is not None else None,
                      outcome=outcome.value, error_ref=error_ref, duration_ms=duration_ms,
                      detail=storable(detail, COMMAND_MAX) if detail else None)


@contextmanager
def attempt(
    sessions: sessionmaker[Session], clock: Clock, *, user_id: str, channel_id: str | None, source: str, command: str
) -> Iterator[Attempt]:
    started, at = time.monotonic(), clock()
    state = Attempt()
    try:
        yield state
    finally:
        duration_ms = int((time.monotonic() - started) * 1000)
        try:
            _write(sessions, lambda: entry(
                at=at, user_id=user_id, channel_id=channel_id, source=source, command=command,
                subcommand=state.subcommand, outcome=state.outcome, error_ref=state.error_ref,
                duration_ms=duration_ms, detail=state.detail))
        except SQLAlchemyError:
            log.exception("audit row not written: user=%.64r outcome=%s ref=%s", user_id, state.outcome,
                          state.error_ref)


def _write(sessions: sessionmaker[Session], row: Callable[[], AuditEntry]) -> None:
    """Insert the row; a database that is busy (SQLite's write lock held past its busy timeout by a burst of
    alerts) or dropped the connection gets WRITE_ATTEMPTS tries before the row is given up."""
    for attempt_no in range(1, WRITE_ATTEMPTS + 1):
        try:
            with session_scope(sessions) as session:
                session.add(row())
            return
        except OperationalError as exc:
            if attempt_no == WRITE_ATTEMPTS:
                raise
            log.warning("audit row not written yet (%s, try %d of %d); trying again", type(exc.orig).__name__,
                        attempt_no, WRITE_ATTEMPTS)
