"""Which replica runs the schedule. APScheduler 3 has no coordination between processes sharing a job store
(its FAQ says so, and two schedulers on one store do run every job twice), so exactly one holds a lock:

- PostgreSQL: a session advisory lock on a connection held for as long as this replica leads. A standby
  queues for it inside PostgreSQL (`wait_acquire`). When the leader stops it unlocks; when it dies,
  PostgreSQL ends its session. Either way the lock passes to a waiting standby at once.
- SQLite file: an exclusive flock on `<database>.scheduler-lock`, released by the kernel when the process dies;
  a standby tries it every FILE_POLL_S.
- SQLite in memory: one process by definition, always the leader.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

log = logging.getLogger(__name__)
LOCK_NAME = "opsbot.scheduler:"       # hashed with the schema, so deployments sharing a database don't collide
LOCK_NOT_AVAILABLE = "55P03"          # PostgreSQL: lock_timeout ran out
FILE_POLL_S = 0.05


class Lock(Protocol):
    def try_acquire(self) -> bool:
        """Take the lock if it is free; never blocks."""
        ...

    def wait_acquire(self, timeout: float) -> bool:
        """Take the lock, waiting up to `timeout` seconds for it to be free: a standby waiting here leads the
        moment the leader lets go (or dies), not at its next poll."""
        ...

    def held(self) -> bool:
        """Still ours? False once the connection or file behind it is gone."""
        ...

    def release(self) -> None: ...


class PostgresLock:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._waiter: Connection | None = None       # a standby's connection queued for the lock

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as exc:
            log.warning("scheduler lock: database unreachable (%s)", type(exc).__name__)
            return False
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:name || current_schema()))"),
                                    {"name": LOCK_NAME}).scalar())
        except SQLAlchemyError as exc:
            log.warning("scheduler lock: could not ask (%s)", type(exc).__name__)
            got = False
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def wait_acquire(self, timeout: float) -> bool:
        """Queue for the lock inside PostgreSQL (`pg_advisory_lock` under a `lock_timeout`): the server hands
        it over the moment the holder unlocks or its session ends."""
        if self._conn is not None:
            return True
        try:
            conn = self._waiter or self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as exc:
            log.warning("scheduler lock: database unreachable (%s)", type(exc).__name__)
            return False
        self._waiter = conn
        try:
            conn.execute(text(f"SET lock_timeout = '{max(1, int(timeout * 1000))}ms'"))
            conn.execute(text("SELECT pg_advisory_lock(hashtext(:name || current_schema()))"), {"name": LOCK_NAME})
            conn.execute(text("SET lock_timeout = 0"))
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                return False                        # still held by the leader: the connection waits again
            self._drop_waiter()
            log.warning("scheduler lock: could not wait for it (%s)", type(exc).__name__)
            return False
        except SQLAlchemyError as exc:
            self._drop_waiter()
            log.warning("scheduler lock: could not wait for it (%s)", type(exc).__name__)
            return False
        self._conn, self._waiter = conn, None
        return True

    def _drop_waiter(self) -> None:
        conn, self._waiter = self._waiter, None
        if conn is not None:
            conn.invalidate()
            conn.close()

    def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            self.release()
            return False

    def release(self) -> None:
        self._drop_waiter()
        conn, self._conn = self._conn, None
        if conn is not None:
            try:       # unlock first: the server ends a closed session a moment later, not at once
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(:name || current_schema()))"),
                             {"name": LOCK_NAME})
            except SQLAlchemyError:
                pass   # the session is gone, and the lock with it
            # Close the real connection rather than return it to the pool: nothing may keep the session.
            conn.invalidate()
            conn.close()


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def wait_acquire(self, timeout: float) -> bool:
        """flock cannot wait with a timeout: try every FILE_POLL_S (a system call; the file is local)."""
        for _ in range(max(1, round(timeout / FILE_POLL_S))):   # counted, not timed: tests freeze the clock
            if self.try_acquire():
                return True
            threading.Event().wait(FILE_POLL_S)
        return self.try_acquire()

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class SoleLock:
    """An in-memory database lives in one process: that process leads."""

    def __init__(self) -> None:
        self._held = False

    def try_acquire(self) -> bool:
        self._held = True
        return True

    def wait_acquire(self, timeout: float) -> bool:
        return self.try_acquire()

    def held(self) -> bool:
        return self._held

    def release(self) -> None:
        self._held = False


def lock_for(engine: Engine) -> Lock:
    if engine.dialect.name == "postgresql":
        return PostgresLock(engine)
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
        return FileLock(Path(f"{database}.scheduler-lock"))
    return SoleLock()
