"""Adapters built on first use, so a bot that has not asked AWS or Kubernetes anything yet carries neither SDK.

boto3 and the kubernetes client cost tens of MB of memory each (bench/idle_rss.py): the factory wraps every
SDK-backed adapter in these stand-ins, which build the real adapter (importing its SDK) the first time they
are asked anything, once, and then only pass calls on.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from integrations.base import (
    BackupPlan,
    BackupTarget,
    Finding,
    LogReading,
    LogRequest,
    LogSource,
    Outcome,
    Progress,
    QueuePeek,
    RedrivePlan,
    RedriveTarget,
    RestartPlan,
    RestartTarget,
    RollbackPlan,
    RollbackTarget,
    ScalePlan,
    ScaleTarget,
    StatusSource,
)

T = TypeVar("T")


class Once(Generic[T]):
    """`build()` called at most once, on the first call, by whichever thread gets there first."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build, self._lock = build, threading.Lock()
        self._value: T | None = None

    def __call__(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value


class DeferredSource(StatusSource):
    def __init__(self, get: Callable[[], StatusSource]) -> None:
        self._get = get

    @property
    def timeout_s(self) -> float:
        return self._get().timeout_s

    def check(self) -> Sequence[Finding]:
        return self._get().check()


class DeferredRollback(RollbackTarget):
    def __init__(self, get: Callable[[], RollbackTarget]) -> None:
        self._get = get

    def plan_rollback(self, *, to: str | None = None) -> RollbackPlan:
        return self._get().plan_rollback(to=to)

    def rollback(self, plan: RollbackPlan, *, progress: Progress) -> Outcome:
        return self._get().rollback(plan, progress=progress)


class DeferredBackup(BackupTarget):
    def __init__(self, get: Callable[[], BackupTarget]) -> None:
        self._get = get

    def plan_backup(self) -> BackupPlan:
        return self._get().plan_backup()

    def backup(self, plan: BackupPlan, *, progress: Progress) -> Outcome:
        return self._get().backup(plan, progress=progress)


class DeferredScale(ScaleTarget):
    def __init__(self, get: Callable[[], ScaleTarget]) -> None:
        self._get = get

    def plan_scale(self, *, replicas: int) -> ScalePlan:
        return self._get().plan_scale(replicas=replicas)

    def scale(self, plan: ScalePlan, *, progress: Progress) -> Outcome:
        return self._get().scale(plan, progress=progress)


class DeferredLogs(LogSource):
    def __init__(self, get: Callable[[], LogSource]) -> None:
        self._get = get

    def read_logs(self, request: LogRequest) -> LogReading:
        return self._get().read_logs(request)


class DeferredRedrive(RedriveTarget):
    def __init__(self, get: Callable[[], RedriveTarget]) -> None:
        self._get = get

    def peek(self, *, limit: int) -> QueuePeek:
        return self._get().peek(limit=limit)

    def plan_redrive(self, *, max_messages: int | None) -> RedrivePlan:
        return self._get().plan_redrive(max_messages=max_messages)

    def redrive(self, plan: RedrivePlan, *, progress: Progress) -> Outcome:
        return self._get().redrive(plan, progress=progress)


class DeferredRestart(RestartTarget):
    def __init__(self, get: Callable[[], RestartTarget]) -> None:
        self._get = get

    def plan_restart(self) -> RestartPlan:
        return self._get().plan_restart()

    def restart(self, plan: RestartPlan, *, progress: Progress) -> Outcome:
        return self._get().restart(plan, progress=progress)
