"""A SQL database reached through SQLAlchemy (a checklist's `sql`): does it answer, and on PostgreSQL how
full is its connection table.

The URL is read from the environment variable the check names, at check time, and is a secret: it never
appears in a Finding, an exception message or a log line. Driver messages are shown only after the URL,
its password and secret-looking query values are cut out of them, and exceptions raised here are not
chained to the driver's (whose text may hold the URL). Each check makes its own engine without a pool
and disposes of it, so nothing stays connected between checklist runs.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import quote, quote_plus

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from bot.config.checklists import SqlCheck
from integrations.base import AccessDeniedError, AdapterError, Finding, Health

REASON_CHARS = 200
SECRET_WORDS = ("pass", "secret", "token", "key")
CONNECTIONS = text("SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'), "
                   "current_setting('max_connections')::int")


class SqlDatabase:
    """StatusSource. Down: the database cannot be reached or answers with an error, or (PostgreSQL) more than
    `max_connections_pct` of max_connections are in use. Raises AdapterError when the variable is unset or
    holds no usable URL, AccessDeniedError when the database refuses the credentials."""

    def __init__(self, cfg: SqlCheck, *, environ: Mapping[str, str] = os.environ) -> None:
        self.cfg, self.environ = cfg, environ
        self.subject = f"database ${cfg.url_env}"

    @property
    def timeout_s(self) -> float:
        return 2 * self.cfg.timeout.total_seconds()          # connect, then the query

    def check(self) -> Sequence[Finding]:
        raw = self.environ.get(self.cfg.url_env, "").strip()
        if not raw:
            raise AdapterError(f"{self.cfg.url_env} is not set")
        try:
            url = make_url(raw)
        except (ArgumentError, ValueError):
            # `from None`: ArgumentError's text quotes the whole URL.
            raise AdapterError(f"{self.cfg.url_env} does not hold a SQLAlchemy URL "
                               "(like postgresql+psycopg://user:password@host/db)") from None
        secrets = _secrets(raw, url)
        backend = url.get_backend_name()
        if _missing_sqlite_file(url):                         # connecting would create an empty one
            return [Finding("sql", self.subject, Health.DOWN, "sqlite: the database file does not exist")]
        try:
            engine = create_engine(url, poolclass=NullPool, connect_args=_connect_args(url, self.cfg.timeout))
        except (ArgumentError, NoSuchModuleError, ImportError):
            raise AdapterError(f"{self.cfg.url_env}: no SQLAlchemy driver {url.drivername!r} installed") from None
        started = time.monotonic()
        try:
            with engine.connect() as conn:
                return [self._ask(conn, backend, started)]
        except DBAPIError as exc:
            return [self._failed(backend, exc, secrets)]
        except SQLAlchemyError as exc:
            raise AdapterError(f"{self.subject}: {_scrub(_first_line(str(exc)), secrets)[:REASON_CHARS]}") from None
        finally:
            engine.dispose()

    def _ask(self, conn: Connection, backend: str, started: float) -> Finding:
        if backend != "postgresql":
            conn.execute(text("SELECT 1"))
            took = (time.monotonic() - started) * 1000
            return Finding("sql", self.subject, Health.OK, f"{backend}: SELECT 1 answered in {took:.0f} ms "
                           "(connections in use are checked on PostgreSQL only)")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(self.cfg.timeout.total_seconds() * 1000)}")
        used, limit = conn.execute(CONNECTIONS).one()
        pct = 100.0 * used / limit if limit else 100.0
        summary = f"postgresql: {used} of {limit} connections in use ({pct:.0f}%)"
        if pct > self.cfg.max_connections_pct:
            return Finding("sql", self.subject, Health.DOWN,
                           f"{summary}, above {self.cfg.max_connections_pct:g}%")
        return Finding("sql", self.subject, Health.OK, summary)

    def _failed(self, backend: str, exc: DBAPIError, secrets: Iterable[str]) -> Finding:
        """A driver error in words; the credentials being refused is ours to fix, so it is not 'down'."""
        message = _scrub(_first_line(str(exc.orig)), secrets)
        lowered = message.lower()
        if "authentication failed" in lowered or "access denied" in lowered or "password" in lowered:
            raise AccessDeniedError(f"{self.subject}: the database refused the credentials "
                                    f"in {self.cfg.url_env}") from None
        if "refused" in lowered:
            reason = "connection refused"
        elif "timeout" in lowered or "timed out" in lowered:
            reason = f"no answer within {self.cfg.timeout.total_seconds():g}s"
        elif "translate host name" in lowered or "not known" in lowered or "resolve" in lowered:
            reason = "host name does not resolve"
        else:
            reason = message[:REASON_CHARS] or type(exc.orig).__name__
        return Finding("sql", self.subject, Health.DOWN, f"{backend}: {reason}")


def _missing_sqlite_file(url: URL) -> bool:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") or "uri" in url.query:
        return False
    return not os.path.exists(url.database)


def _connect_args(url: URL, timeout: timedelta) -> dict[str, Any]:
    """The driver's own connect timeout (drivers name it differently; unknown drivers get none)."""
    seconds = max(1, round(timeout.total_seconds()))
    driver = url.get_driver_name()
    if driver in ("psycopg", "psycopg2", "psycopg2cffi", "pymysql", "mysqldb"):
        return {"connect_timeout": seconds}
    if driver in ("pysqlite", "pg8000"):
        return {"timeout": seconds}
    if driver == "mysqlconnector":
        return {"connection_timeout": seconds}
    return {}


def _secrets(raw: str, url: URL) -> list[str]:
    """Every form in which the URL's secrets could show up in a driver's message, longest first."""
    found = {raw, url.render_as_string(hide_password=False)}
    values = [url.password] if url.password else []
    for key, value in url.query.items():
        if any(word in key.lower() for word in SECRET_WORDS):
            values += [value] if isinstance(value, str) else list(value)
    for value in values:
        found |= {str(value), quote(str(value), safe=""), quote_plus(str(value))}
    return sorted((s for s in found if s), key=len, reverse=True)


def _scrub(message: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        message = message.replace(secret, "***")
    return message


def _first_line(message: str) -> str:
    return next((line.strip() for line in message.splitlines() if line.strip()), "")
