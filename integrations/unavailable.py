"""Stand-in for an integration that could not be set up (no kubeconfig, unknown context, no region).

The bot still starts; every status source, rollback, backup or scale that needs the integration
answers with the setup error, so the on-call engineer sees why instead of a missing line.
"""
from __future__ import annotations

from collections.abc import Sequence

from integrations.base import AdapterError, Finding, Outcome, Plan, Progress


class Unavailable:
    def __init__(self, error: AdapterError, *, timeout_s: float = 1.0) -> None:
        self._error = error
        self._timeout_s = timeout_s

    @property
    def timeout_s(self) -> float:
        return self._timeout_s

    def check(self) -> Sequence[Finding]:
        raise self._error

    def plan_rollback(self, *, to: str | None = None) -> Plan:
        raise self._error

    def plan_backup(self) -> Plan:
        raise self._error

    def plan_scale(self, *, replicas: int) -> Plan:
        raise self._error

    def apply(self, plan: Plan, *, progress: Progress) -> Outcome:
        raise self._error
