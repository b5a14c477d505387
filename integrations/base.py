"""What commands and checklists may ask of the systems we operate.

Commands import only this module; the implementations (httpx today; boto3 and kubernetes later) live
next to it and are built once by `integrations.build_integrations()`.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
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


class AdapterError(Exception):
    """A system could not be asked, or refused. str() is short and safe to show in Slack."""


class UnreachableError(AdapterError):
    """Connect/read timeout, DNS failure, connection refused."""
