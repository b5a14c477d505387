"""Why the database could not be used, in one line a person can act on.

`check_url()` refuses a DATABASE_URL the bot cannot use before anything connects (bot.storage.db calls it).
`describe()` names the cause of a failed connection: connection refused, unknown host, timed out, missing
database, authentication failed, or a SQLite path that is missing or not writable. Driver messages are
matched as libpq and sqlite3 word them; anything else keeps its first line.
"""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

SUPPORTED = "sqlite:///PATH or postgresql+psycopg://USER:PASS@HOST:PORT/DB"
BACKENDS = ("sqlite", "postgresql")

# (words in the driver's message, the cause), first match wins; "does not exist" is told apart first
POSTGRES_CAUSES = (
    (("connection refused",), "connection refused ({host}:{port})"),
    (("could not translate host name", "failed to resolve host", "name or service not known",
      "temporary failure in name resolution", "nodename nor servname"), "unknown host {host!r}"),
    (("timeout expired", "timed out"), "connection to {host}:{port} timed out"),
    (("password authentication failed", "authentication failed", "no password supplied",
      "no pg_hba.conf entry", "password is required"), "authentication failed for user {user!r}"),
    (("network is unreachable", "no route to host"), "network unreachable ({host}:{port})"),
)


class UnsupportedDatabaseError(Exception):
    """DATABASE_URL names no database the bot supports; str() is the one line to print."""


def check_url(url: str) -> URL:
    """The parsed URL, or UnsupportedDatabaseError naming what is wrong and what would work."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UnsupportedDatabaseError(f"DATABASE_URL is not a database URL (use {SUPPORTED})") from None
    if parsed.get_backend_name() not in BACKENDS:
        raise UnsupportedDatabaseError(
            f"DATABASE_URL: {parsed.drivername}:// is not supported (use {SUPPORTED})")
    return parsed


def unusable_driver(url: str, exc: Exception) -> UnsupportedDatabaseError:
    """A supported database through a driver that is not installed (`postgresql+asyncpg://`)."""
    parsed = make_url(url)
    return UnsupportedDatabaseError(f"DATABASE_URL: the driver of {parsed.drivername}:// is not installed "
                                    f"({exc}); use {SUPPORTED}")


def describe(exc: BaseException, url: str) -> str:
    """One line naming why the database at `url` could not be used (the password never appears)."""
    parsed = make_url(url)
    where = parsed.render_as_string(hide_password=True)
    orig = getattr(exc, "orig", None) or exc
    message = str(orig).strip()
    if parsed.get_backend_name() == "sqlite":
        return f"database {where}: {_sqlite_cause(parsed, message)}"
    return f"database {where}: {_postgres_cause(parsed, message)}"


def _postgres_cause(url: URL, message: str) -> str:
    lower = message.lower()
    if "does not exist" in lower:
        if "role" in lower:       # with trust auth, an unknown user is refused this way
            return f"authentication failed: role {url.username!r} does not exist"
        return f"missing database: {url.database!r} does not exist"
    for words, cause in POSTGRES_CAUSES:
        if any(w in lower for w in words):
            return cause.format(host=url.host, port=url.port or 5432, user=url.username)
    return f"cannot connect: {_first_line(message)}"


def _sqlite_cause(url: URL, message: str) -> str:
    lower = message.lower()
    path = Path(url.database or "")
    if "unable to open database file" in lower and url.database:
        folder = path.absolute().parent
        if folder.exists() and not folder.is_dir():
            return f"bad path: {folder} is not a directory"
        if not folder.is_dir():
            return f"bad path: directory {folder} does not exist"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"bad path: directory {folder} is not writable"
        return f"bad path: cannot open {path}"
    if "readonly database" in lower:
        return f"bad path: {path} is not writable"
    if "not a database" in lower:
        return f"bad path: {path} is not a SQLite database"
    return _first_line(message)


def _first_line(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0][:300] if lines else "unknown error"
