"""What commands and checklists may ask of the systems we operate.

Commands import only this module; the implementations (httpx, boto3, kubernetes) live next to it and
are built once by `integrations.build_integrations()`.

Destructive operations are plan -> apply: `plan_*()` computes what would change without changing
anything (that is `--dry-run`, and the text of the confirmation message); `apply(plan)` does exactly
that plan. A Plan's `params` are plain strings so the plan can be stored with the pending action and
replayed after the confirmation click, possibly by another replica.

Errors, all with a short message that is safe to show in Slack:

    AdapterError            the system could not be asked, or refused
    ├── UnreachableError    connect/read timeout, DNS, connection refused
    ├── AccessDeniedError   401/403, expired or missing credentials, missing IAM permission
    ├── TargetNotFoundError the deployment / function / instance does not exist
    └── NotPossibleError    the operation makes no sense now: no previous revision, stack busy
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol


class Health(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"          # we could not ask: timeout, access denied, unreachable

    @property
    def rank(self) -> int:
        """Higher is worse; the worst finding decides a service's state."""
        return {Health.OK: 0, Health.UNKNOWN: 1, Health.DEGRADED: 2, Health.DOWN: 3}[self]


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of `/ops status`: what one source says about one service."""

    source: str                  # "http", "kubernetes", "cloudwatch", ...
    subject: str                 # "GET http://127.0.0.1:8080/health"
    health: Health
    summary: str                 # "HTTP 200 in 12 ms", "no answer within 3s"
    latency: timedelta | None = None
    details: Mapping[str, str] = field(default_factory=dict)


class StatusSource(Protocol):
    """Says how a service is doing.

    An unhealthy target is a Finding, never an exception. Raise AdapterError only when the source itself
    could not be asked; the caller turns that into Health.UNKNOWN with the reason.
    """

    @property
    def timeout_s(self) -> float: ...

    def check(self) -> Sequence[Finding]: ...


@dataclass(frozen=True, slots=True)
class Plan:
    """A change we are about to make, computed without making it. Shown on Confirm; replayed by apply()."""

    kind: str                    # "rollback" | "backup" | "scale"
    target: str                  # "deployment/flight-search-backend in flight-search-prod"
    current: str                 # "revision 7 (backend:1.4.2)"
    desired: str                 # "revision 6 (backend:1.4.1)"
    params: Mapping[str, str] = field(default_factory=dict)   # everything apply() needs


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    summary: str                 # "rollout finished: 3/3 ready" / "snapshot opsbot-prod-db-20261122T0300Z available"
    details: Mapping[str, str] = field(default_factory=dict)


Progress = Callable[[str], None]     # posts a line to the message thread; adapters never see Slack


class RollbackTarget(Protocol):
    """Returns a service to an earlier release.

    plan_rollback(to=None) means "the previous one". Raises NotPossibleError when there is nothing to
    roll back to, TargetNotFoundError when `to` names no known revision/version.
    """

    def plan_rollback(self, *, to: str | None = None) -> Plan: ...

    def apply(self, plan: Plan, *, progress: Progress) -> Outcome: ...


class BackupTarget(Protocol):
    """Takes a backup now and watches it to the end (available, failed, or the configured timeout)."""

    def plan_backup(self) -> Plan: ...

    def apply(self, plan: Plan, *, progress: Progress) -> Outcome: ...


class ScaleTarget(Protocol):
    """Sets the replica count of a workload."""

    def plan_scale(self, *, replicas: int) -> Plan: ...

    def apply(self, plan: Plan, *, progress: Progress) -> Outcome: ...


class AdapterError(Exception):
    """A system could not be asked, or refused. str() is short and safe to show in Slack."""


class UnreachableError(AdapterError):
    """Connect/read timeout, DNS failure, connection refused."""


class AccessDeniedError(AdapterError):
    """401/403, expired or missing credentials, missing permission."""


class TargetNotFoundError(AdapterError):
    """The deployment, function, stack or instance does not exist."""


class NotPossibleError(AdapterError):
    """Not possible in the target's current state: no previous revision, stack busy, ..."""
