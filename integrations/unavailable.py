"""Stand-in for an integration that could not be set up (no kubeconfig, unknown context, no region).

The bot still starts; every status source, rollback, backup, scale, restart or log read that needs the integration
answers with the setup error, so the on-call engineer sees why instead of a missing line.
"""
from __future__ import annotations

from collections.abc import Sequence

from integrations.base import (
    AdapterError,
    BackupPlan,
    BackupTarget,
    Finding,
    LogReading,
    LogRequest,
    LogSource,
    Outcome,
    Progress,
    RestartPlan,
    RestartTarget,
    RollbackPlan,
    RollbackTarget,
    ScalePlan,
    ScaleTarget,
    StatusSource,
)


class Unavailable(StatusSource, RollbackTarget, BackupTarget, ScaleTarget, RestartTarget, LogSource):
    def __init__(self, error: AdapterError, *, timeout_s: float = 1.0) -> None:
        self._error = error
        self._timeout_s = timeout_s

    @property
    def timeout_s(self) -> float:
        return self._timeout_s

    def check(self) -> Sequence[Finding]:
        raise self._error

    def plan_rollback(self, *, to: str | None = None) -> RollbackPlan:
        raise self._error

    def rollback(self, plan: RollbackPlan, *, progress: Progress) -> Outcome:
        raise self._error

    def plan_backup(self) -> BackupPlan:
        raise self._error

    def backup(self, plan: BackupPlan, *, progress: Progress) -> Outcome:
        raise self._error

    def plan_scale(self, *, replicas: int) -> ScalePlan:
        raise self._error

    def scale(self, plan: ScalePlan, *, progress: Progress) -> Outcome:
        raise self._error

    def plan_restart(self) -> RestartPlan:
        raise self._error

    def restart(self, plan: RestartPlan, *, progress: Progress) -> Outcome:
        raise self._error

    def read_logs(self, request: LogRequest) -> LogReading:
        raise self._error
