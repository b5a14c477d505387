"""The errors a command may raise on purpose, and what each one means for the person who asked.

    OpsError              a request we understood and refuse; str() is short and safe to show in Slack
    ├── UsageError        malformed arguments: answer with the subcommand's usage line
    ├── NotFoundError     a service, incident or database that does not exist: name the known ones
    ├── NotAllowedError   the user lacks a role: name the roles that may
    └── ConflictError     the state forbids it (already resolved, already confirmed)

Anything else escaping a command is a bug: the user sees a reference id, the log and the audit row
carry the same id and the traceback.
"""
from __future__ import annotations

import secrets


class OpsError(Exception):
    """A refusal with a message meant for the user. `outcome` is what the audit log records."""

    outcome = "rejected"


class UsageError(OpsError):
    outcome = "usage"

    def __init__(self, message: str, *, usage: str | None = None) -> None:
        super().__init__(message)
        self.usage = usage


class NotFoundError(OpsError):
    outcome = "not_found"


class NotAllowedError(OpsError):
    outcome = "not_allowed"


class ConflictError(OpsError):
    outcome = "conflict"


def new_ref() -> str:
    """A short id that ties a user-visible error to its log line and audit row."""
    return secrets.token_hex(4)
