"""One normalized alert event, whatever sent it, and the error every receiver raises for bad input."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class BadPayloadError(Exception):
    """The request is not an alert we accept; str() is the reason returned with the 4xx."""

    def __init__(self, reason: str, *, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """A firing or a resolution of the alert named by `dedup_key`."""

    source: str                           # sns | alertmanager | webhook
    dedup_key: str
    title: str
    status: str                           # firing | resolved
    severity: str | None = None           # the sender's word ("critical", "warning", "P1"); mapped to P1..P4 later
    service: str | None = None
    reason: str | None = None
    runbook_url: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    receipt: str | None = None            # a sender message id that a retry would repeat (SNS MessageId)


def text(value: object, limit: int) -> str:
    """A string field from untrusted JSON, trimmed to `limit`."""
    out = "" if value is None else str(value)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def mapping(value: object) -> dict[str, Any]:
    """A JSON object field from untrusted input, or {} when it is anything else."""
    return value if isinstance(value, dict) else {}
