"""In-memory implementations of our own target Protocols, for command-flow tests that need no cloud.

They implement RollbackTarget/BackupTarget/ScaleTarget for real (plan, then apply exactly that plan);
the SDK-backed adapters are tested against moto and the Kubernetes emulator instead.
"""
from __future__ import annotations

import threading

from integrations.base import (
    AdapterError,
    BackupPlan,
    BackupTarget,
    NotPossibleError,
    Outcome,
    Plan,
    Progress,
    RollbackPlan,
    RollbackTarget,
    ScalePlan,
    ScaleTarget,
)


class FakeDeployment(RollbackTarget, BackupTarget, ScaleTarget):
    """A 'deployment' with numbered revisions; rollback and scale change it, applied plans are counted."""

    def __init__(self, name: str, *, revision: int = 3, replicas: int = 3, fail_with: str | None = None) -> None:
        self.name, self.revision, self.replicas = name, revision, replicas
        self.fail_with = fail_with
        self.applied: list[Plan] = []
        self.release = threading.Event()       # set by a test to let a slow operation finish
        self.release.set()
        self._lock = threading.Lock()

    def plan_rollback(self, *, to: str | None = None) -> RollbackPlan:
        if self.revision <= 1:
            raise NotPossibleError(f"deployment/{self.name}: no earlier revision to roll back to")
        target = int(to) if to else self.revision - 1
        return RollbackPlan(target=f"deployment/{self.name} in prod", current=f"revision {self.revision} "
                            f"(web:{self.revision})", desired=f"revision {target} (web:{target})",
                            from_ref=str(self.revision), to_ref=str(target))

    def plan_scale(self, *, replicas: int) -> ScalePlan:
        return ScalePlan(target=f"deployment/{self.name} in prod", current=f"{self.replicas} replicas",
                         desired=f"{replicas} replicas", from_replicas=self.replicas, replicas=replicas)

    def plan_backup(self) -> BackupPlan:
        return BackupPlan(target=f"rds {self.name}", current="newest snapshot 3h old",
                          desired=f"snapshot opsbot-{self.name}-x", name=f"opsbot-{self.name}-x")

    def _start(self, plan: Plan, progress: Progress) -> None:
        self.release.wait(10)
        with self._lock:
            self.applied.append(plan)
        progress(f"working on {plan.target}")
        if self.fail_with:
            raise AdapterError(self.fail_with)

    def rollback(self, plan: RollbackPlan, *, progress: Progress) -> Outcome:
        self._start(plan, progress)
        self.revision = int(plan.to_ref)
        return Outcome(True, f"rollout finished: {self.replicas}/{self.replicas} ready (image web:{self.revision})")

    def scale(self, plan: ScalePlan, *, progress: Progress) -> Outcome:
        self._start(plan, progress)
        self.replicas = plan.replicas
        return Outcome(True, f"{self.replicas}/{self.replicas} ready")

    def backup(self, plan: BackupPlan, *, progress: Progress) -> Outcome:
        self._start(plan, progress)
        return Outcome(True, f"snapshot {plan.name} available (20 GiB, 41s)")
