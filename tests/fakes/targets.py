"""In-memory implementations of our own target Protocols, for command-flow tests that need no cloud.

They implement RollbackTarget/BackupTarget/ScaleTarget for real (plan, then apply exactly that plan);
the SDK-backed adapters are tested against moto and the Kubernetes emulator instead.
"""
from __future__ import annotations

import threading

from integrations.base import AdapterError, NotPossibleError, Outcome, Plan, Progress


class FakeDeployment:
    """A 'deployment' with numbered revisions; rollback and scale change it, apply() calls are counted."""

    def __init__(self, name: str, *, revision: int = 3, replicas: int = 3, fail_with: str | None = None) -> None:
        self.name, self.revision, self.replicas = name, revision, replicas
        self.fail_with = fail_with
        self.applied: list[Plan] = []
        self.release = threading.Event()       # set by a test to let a slow apply() finish
        self.release.set()
        self._lock = threading.Lock()

    def plan_rollback(self, *, to: str | None = None) -> Plan:
        if self.revision <= 1:
            raise NotPossibleError(f"deployment/{self.name}: no earlier revision to roll back to")
        target = int(to) if to else self.revision - 1
        return Plan("rollback", f"deployment/{self.name} in prod", f"revision {self.revision} (web:{self.revision})",
                    f"revision {target} (web:{target})", {"to": str(target), "expect": str(self.revision)})

    def plan_scale(self, *, replicas: int) -> Plan:
        return Plan("scale", f"deployment/{self.name} in prod", f"{self.replicas} replicas", f"{replicas} replicas",
                    {"replicas": str(replicas)})

    def plan_backup(self) -> Plan:
        return Plan("backup", f"rds {self.name}", "newest snapshot 3h old", f"snapshot opsbot-{self.name}-x",
                    {"snapshot": f"opsbot-{self.name}-x"})

    def apply(self, plan: Plan, *, progress: Progress) -> Outcome:
        self.release.wait(10)
        with self._lock:
            self.applied.append(plan)
        progress(f"working on {plan.target}")
        if self.fail_with:
            raise AdapterError(self.fail_with)
        if plan.kind == "rollback":
            self.revision = int(plan.params["to"])
            return Outcome(True, f"rollout finished: {self.replicas}/{self.replicas} ready (image web:{self.revision})")
        if plan.kind == "scale":
            self.replicas = int(plan.params["replicas"])
            return Outcome(True, f"{self.replicas}/{self.replicas} ready")
        return Outcome(True, f"snapshot {plan.params['snapshot']} available (20 GiB, 41s)")
