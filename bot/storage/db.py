"""The database: engine and sessions from DATABASE_URL, one aware-UTC column type, Alembic upgrades.

SQLite (the embedded default) and PostgreSQL behave the same through this module.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from bot.storage.errors import check_url, unusable_driver

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
T = TypeVar("T")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime (bot.clock.utcnow())")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str) -> Engine:
    """An engine with timeouts, so a stuck database fails a request instead of hanging it.
    Raises UnsupportedDatabaseError for a URL the bot cannot use (bot.storage.errors)."""
    check_url(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 5, "check_same_thread": False}
    elif url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": 3}
        kwargs.update(pool_timeout=5, pool_size=20, max_overflow=10)   # 16 HTTP threads + workers + outbox
    try:
        engine = create_engine(url, **kwargs)
    except ImportError as exc:
        raise unusable_driver(url, exc) from exc
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_begin_immediate(conn: Any) -> None:
    # SQLite has no row locks (SELECT … FOR UPDATE is ignored): taking the write lock at BEGIN makes
    # read-modify-write transactions (alert counts, claims) serialize as they do on PostgreSQL.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None     # let the "begin" hook issue BEGIN IMMEDIATE itself
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")      # readers never wait for the writer (alert storms)
    cursor.close()


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with sessions() as session, session.begin():
        yield session


def ping(engine: Engine) -> None:
    """Raise if the database does not answer `SELECT 1`."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


_REVISION = re.compile(r"^revision = [\"']([^\"']+)[\"']", re.M)
_DOWN = re.compile(r"^down_revision = [\"']([^\"']+)[\"']", re.M)


def head_revision() -> str:
    """The newest migration's id, read from the version files (importing Alembic costs ~5 MB of memory)."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        if (found := _REVISION.search(source)) is not None:
            revisions.add(found.group(1))
        if (parent := _DOWN.search(source)) is not None:
            parents.add(parent.group(1))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def current_revision(engine: Engine) -> str | None:
    """The schema's Alembic revision, or None for a database never migrated."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent; Alembic is loaded only when behind).

    On PostgreSQL the migration Job and replicas starting beside it may all find the schema behind at once
    (`kubectl apply -k` starts them together): each takes a transaction-scoped advisory lock on its schema
    first, so one migrates and the others, once it commits, find the schema at head and change nothing."""
    if current_revision(engine) == head_revision():
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('opsbot-migrations:' || current_schema()))"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def insert_ignoring_duplicates(session: Session, table: Any, values: dict[str, Any], *, key: list[str]) -> None:
    """INSERT … ON CONFLICT (key) DO NOTHING, on either database (the dialect's module is loaded on first use:
    a bot on SQLite never loads PostgreSQL's)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(table).values(**values).on_conflict_do_nothing(index_elements=key))
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(table).values(**values).on_conflict_do_nothing(index_elements=key))


def commit_without_waiting_for_disk(session: Session) -> None:
    """Let this transaction's commit return before PostgreSQL has flushed it to disk (`synchronous_commit = off`
    for this transaction only). The commit is still atomic, visible to everyone at once, and survives a crash of
    the bot; only a crash of the database server itself within a fraction of a second can lose it. For claims and
    attempt records on the path to a Slack call, where waiting for an fsync is most of the latency. No-op on
    SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))


def one_pass(what: str, run_once: Callable[[], T], *, failed: T, log: logging.Logger) -> T:
    """One pass of a worker that runs until stopped: what `run_once` returns, or `failed` when it raised. A
    database error is one WARNING line (the next pass may not meet it again); anything else is logged with its
    traceback. Either way the worker goes on."""
    try:
        return run_once()
    except OperationalError as exc:
        log.warning("%s pass failed on the database (%s); retrying", what, transient(exc))
    except Exception:
        log.exception("%s pass failed; retrying", what)
    return failed


def transient(exc: OperationalError) -> str:
    """One line for a database error a worker's next pass may not meet again (a deadlock broken by PostgreSQL,
    SQLite's write lock, a lost connection): logged as a warning, without a traceback."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(getattr(exc, 'orig', None) or exc).__name__}: {detail[0][:160] if detail else 'no detail'}"
