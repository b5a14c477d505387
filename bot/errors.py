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

import enum
import secrets


class AuditOutcome(enum.StrEnum):
    """What the audit log records for a request (`audit_log.outcome`)."""

    OK = "ok"
    USAGE = "usage"                        # malformed arguments
    UNKNOWN_COMMAND = "unknown_command"
    NOT_FOUND = "not_found"
    NOT_ALLOWED = "not_allowed"
    CONFLICT = "conflict"                  # the state forbids it: already done, expired
    REJECTED = "rejected"
    ERROR = "error"                        # a bug: the reply carries a reference id
    PROPOSED = "proposed"                  # a destructive operation waits for its Confirm
    APPROVED = "approved"                  # ... got one more approval, and needs more before it runs
    CONFIRMED = "confirmed"                # ... was confirmed and handed to the operation runner
    CANCELLED = "cancelled"
    SUCCEEDED = "succeeded"                # the operation's own row: it finished and worked
    FAILED = "failed"                      # ... it finished and did not work
    INTERRUPTED = "interrupted"            # ... its replica died while it ran: outcome unknown
    UNREACHABLE = "unreachable"            # adapter errors
    THROTTLED = "throttled"
    ACCESS_DENIED = "access_denied"
    NOT_POSSIBLE = "not_possible"
    ADAPTER_ERROR = "adapter_error"


class OpsError(Exception):
    """A refusal with a message meant for the user. `outcome` is what the audit log records."""

    outcome = AuditOutcome.REJECTED


class UsageError(OpsError):
    outcome = AuditOutcome.USAGE

    def __init__(self, message: str, *, usage: str | None = None) -> None:
        super().__init__(message)
        self.usage = usage


class NotFoundError(OpsError):
    outcome = AuditOutcome.NOT_FOUND


class NotAllowedError(OpsError):
    outcome = AuditOutcome.NOT_ALLOWED


class ConflictError(OpsError):
    outcome = AuditOutcome.CONFLICT


def new_ref() -> str:
    """A short id that ties a user-visible error to its log line and audit row."""
    return secrets.token_hex(4)
