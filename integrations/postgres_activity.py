"""What a PostgreSQL server is busy with (a checklist's `postgres_activity`): client connections by state
against max_connections, queries that have been running too long, and optionally the slowest statements
from pg_stat_statements.

pg_stat_activity is server-wide, so every database of the server counts. A user without the `pg_monitor`
role sees other users' sessions without their state or query: those are counted as "not visible" and said
so. The URL is a secret, handled as integrations.sql handles it: cut out of every message, never chained.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from bot.clock import humanize
from bot.config.data_checks import PostgresActivityCheck, where
from bot.config.secrets import SecretMissing
from integrations.base import AccessDeniedError, AdapterError, Finding, Health
from integrations.sql import REASON_CHARS, _connect_args, _first_line, _scrub, _secrets

SOURCE = "postgres"
NAMED = 3                   # long-running queries named in the summary; the rest are counted
QUERY_CHARS = 80            # of each query's text in a summary
STATE_ORDER = ("active", "idle", "idle in transaction", "idle in transaction (aborted)", "fastpath function call",
               "disabled")
CONNECTIONS = text("""
    SELECT state, count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY state""")
LIMIT = text("SELECT current_setting('max_connections')::int")
LONG_QUERIES = text("""
    SELECT pid, usename, datname, application_name,
           EXTRACT(EPOCH FROM clock_timestamp() - query_start)::float8 AS seconds, query
    FROM pg_stat_activity
    WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
      AND query_start < clock_timestamp() - make_interval(secs => :warn)
    ORDER BY query_start""")
HAS_STATEMENTS = text("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
# mean_exec_time from PostgreSQL 13 on, mean_time before: read through to_jsonb so one query fits both.
STATEMENTS = text("""
    SELECT query, calls,
           COALESCE((to_jsonb(s) ->> 'mean_exec_time')::float8, (to_jsonb(s) ->> 'mean_time')::float8) AS mean_ms
    FROM pg_stat_statements s
    ORDER BY mean_ms DESC NULLS LAST LIMIT :n""")


class PostgresActivity:
    """StatusSource. Down: cannot connect, a query active for `long_query_fail` or longer, connections at or
    past `connections_fail_pct` of max_connections. Degraded: past the warn lines, or `top_statements` asked
    for while pg_stat_statements is not installed or not loaded. Raises AdapterError when the secret is unset
    or holds no PostgreSQL URL, AccessDeniedError when the server refuses the credentials."""

    def __init__(self, cfg: PostgresActivityCheck, *, environ: Mapping[str, str] | None = None) -> None:
        self.cfg, self.environ = cfg, environ
        self.subject = f"postgres {cfg.name}" if cfg.name else f"postgres at {where(cfg.secret)}"

    @property
    def timeout_s(self) -> float:
        return 2 * self.cfg.timeout.total_seconds()          # connect, then the queries under statement_timeout

    def check(self) -> Sequence[Finding]:
        try:
            raw = self.cfg.secret.reveal(self.environ).strip()
        except SecretMissing as exc:
            raise AdapterError(f"{self.subject}: {exc}") from None
        url = self._url(raw)
        secrets = _secrets(raw, url)
        engine = create_engine(url, poolclass=NullPool,
                               connect_args=_connect_args(url, self.cfg.timeout) | {"application_name": "opsbot-check"})
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(self.cfg.timeout.total_seconds() * 1000)}")
                findings = [self._connections(conn), self._long_queries(conn, secrets)]
                if self.cfg.top_statements:
                    findings.append(self._statements(conn, secrets))
                return findings
        except DBAPIError as exc:
            return [self._failed(exc, secrets)]
        except SQLAlchemyError as exc:
            raise AdapterError(f"{self.subject}: {_scrub(_first_line(str(exc)), secrets)[:REASON_CHARS]}") from None
        finally:
            engine.dispose()

    def _url(self, raw: str) -> URL:
        """The URL as SQLAlchemy wants it: `postgres://` and plain `postgresql://` (libpq's spelling) use
        psycopg, the driver opsbot ships."""
        raw = re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", raw)
        try:
            url = make_url(raw)
        except (ArgumentError, ValueError):
            # `from None`: ArgumentError's text quotes the whole URL.
            raise AdapterError(f"{self.subject}: the secret in {self.cfg.secret} does not hold a PostgreSQL URL "
                               "(like postgresql://user:password@host:5432/db)") from None
        if url.get_backend_name() != "postgresql":
            raise AdapterError(f"{self.subject}: the secret in {self.cfg.secret} holds a {url.get_backend_name()} "
                               "URL; postgres_activity needs PostgreSQL")
        try:
            url.get_dialect()
        except (NoSuchModuleError, ImportError):
            raise AdapterError(f"{self.subject}: no SQLAlchemy driver {url.drivername!r} installed") from None
        return url

    def _finding(self, health: Health, summary: str, details: Mapping[str, str] | None = None) -> Finding:
        return Finding(SOURCE, self.subject, health, summary, details=details or {})

    def _connections(self, conn: Connection) -> Finding:
        counts = {state: int(n) for state, n in conn.execute(CONNECTIONS).all()}
        limit = int(conn.execute(LIMIT).scalar_one())
        used = sum(counts.values())
        pct = 100.0 * used / limit if limit else 100.0
        hidden = counts.pop(None, 0)
        states = sorted(counts.items(), key=lambda kv: (STATE_ORDER.index(kv[0]) if kv[0] in STATE_ORDER
                                                        else len(STATE_ORDER), kv[0]))
        parts = [f"{n} {state}" for state, n in states]
        if hidden:
            parts.append(f"{hidden} not visible to this user (grant it pg_monitor)")
        summary = f"{used} of {limit} connections in use ({pct:.0f}%): " + ", ".join(parts)
        warn, fail = self.cfg.connections_warn_pct, self.cfg.connections_fail_pct
        if pct >= warn:
            return self._finding(Health.DOWN if pct >= fail else Health.DEGRADED,
                                 f"{summary}; warn at {warn:g}%, fail at {fail:g}%")
        return self._finding(Health.OK, summary)

    def _long_queries(self, conn: Connection, secrets: Sequence[str]) -> Finding:
        warn, fail = self.cfg.long_query_warn, self.cfg.long_query_fail
        rows = conn.execute(LONG_QUERIES, {"warn": warn.total_seconds()}).all()
        if not rows:
            return self._finding(Health.OK, f"no query running longer than {humanize(warn)}")
        longest = timedelta(seconds=rows[0].seconds)
        health = Health.DOWN if longest >= fail else Health.DEGRADED
        described = [_query(r, secrets) for r in rows]
        shown = "; ".join(described[:NAMED]) + (f"; and {len(rows) - NAMED} more" if len(rows) > NAMED else "")
        many = f"{len(rows)} queries" if len(rows) > 1 else "1 query"
        summary = (f"{many} running longer than {humanize(warn)} (warn at {humanize(warn)}, fail at {humanize(fail)}): "
                   f"{shown}")
        details = {f"pid {r.pid}": f"{humanize(timedelta(seconds=r.seconds))}, {r.usename}@{r.datname}, "
                                   f"{_one_line(r.query or '', secrets, 300)}" for r in rows[:20]}
        return self._finding(health, summary, details)

    def _statements(self, conn: Connection, secrets: Sequence[str]) -> Finding:
        if conn.execute(HAS_STATEMENTS).first() is None:
            return self._finding(Health.DEGRADED, "pg_stat_statements is not installed in this database, so the "
                                 "slowest statements can't be listed (CREATE EXTENSION pg_stat_statements; it must "
                                 "also be in shared_preload_libraries)")
        try:
            with conn.begin_nested():
                rows = conn.execute(STATEMENTS, {"n": self.cfg.top_statements}).all()
        except DBAPIError as exc:
            message = _scrub(_first_line(str(exc.orig)), secrets)
            if "shared_preload_libraries" in message:
                return self._finding(Health.DEGRADED, "pg_stat_statements is installed but not loaded, so the "
                                     "slowest statements can't be listed (add it to shared_preload_libraries and "
                                     "restart the server)")
            return self._finding(Health.DEGRADED, f"pg_stat_statements could not be read: {message[:REASON_CHARS]}")
        if not rows:
            return self._finding(Health.OK, "pg_stat_statements has recorded no statements yet")
        details = {f"#{i}": f"{r.mean_ms:,.1f} ms mean, {r.calls:,} calls: {_one_line(r.query or '', secrets, 300)}"
                   for i, r in enumerate(rows, 1)}
        first = rows[0]
        return self._finding(Health.OK, f"slowest statement by mean time: {first.mean_ms:,.1f} ms over "
                             f"{first.calls:,} calls: {_one_line(first.query or '', secrets, QUERY_CHARS)}", details)

    def _failed(self, exc: DBAPIError, secrets: Sequence[str]) -> Finding:
        """A driver error in words; the credentials being refused is ours to fix, so it is not 'down'."""
        message = _scrub(_first_line(str(exc.orig)), secrets)
        lowered = message.lower()
        if ("authentication failed" in lowered or "password" in lowered or "no pg_hba.conf entry" in lowered
                or "not permitted to log in" in lowered or re.search(r'role ".*" does not exist', lowered)):
            raise AccessDeniedError(f"{self.subject}: the server refused the credentials in {self.cfg.secret}") \
                from None
        if "refused" in lowered:
            reason = "connection refused"
        elif "statement timeout" in lowered:
            reason = f"pg_stat_activity did not answer within {self.cfg.timeout.total_seconds():g}s"
        elif "timeout" in lowered or "timed out" in lowered:
            reason = f"no answer within {self.cfg.timeout.total_seconds():g}s"
        elif "translate host name" in lowered or "not known" in lowered or "resolve" in lowered:
            reason = "host name does not resolve"
        else:
            reason = _server_words(message)[:REASON_CHARS] or type(exc.orig).__name__
        return self._finding(Health.DOWN, reason)


def _query(row: Any, secrets: Sequence[str]) -> str:
    """One long-running query for the summary: 'pid 4242 for 12m (app@flights): SELECT …'."""
    who = f"{row.usename}@{row.datname}" + (f", {row.application_name}" if row.application_name else "")
    return (f"pid {row.pid} for {humanize(timedelta(seconds=row.seconds))} ({who}): "
            f"{_one_line(row.query or '', secrets, QUERY_CHARS)}")


def _server_words(message: str) -> str:
    """libpq's message without its preamble: 'database "x" does not exist', not 'connection failed:
    connection to server at "127.0.0.1", port 5432 failed: FATAL:  database "x" does not exist'."""
    message = re.sub(r'^(connection failed: )?connection to server at "[^"]*"(, port \d+)? failed: ', "", message)
    return re.sub(r"^(FATAL|ERROR):\s+", "", message)


def _one_line(query: str, secrets: Sequence[str], chars: int) -> str:
    flat = " ".join(_scrub(query, secrets).split())
    return flat if len(flat) <= chars else flat[:chars - 1] + "…"

