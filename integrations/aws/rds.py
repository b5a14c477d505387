"""An RDS instance: its status, the age of its newest snapshot, and a manual snapshot on demand."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot import config as cfgs
from bot.clock import humanize
from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import Finding, Health, Outcome, Plan, Progress
from integrations.polling import Poller


class RdsInstance:
    def __init__(self, db_name: str, cfg: cfgs.RdsInstance, clients: AwsClients, *, max_backup_age: timedelta,
                 clock: Callable[[], datetime], poller: Poller | None = None) -> None:
        self.db_name, self.cfg, self.clients = db_name, cfg, clients
        self.max_backup_age, self.clock = max_backup_age, clock
        self.poller = poller or Poller(interval_s=15.0)
        self.subject = f"rds {cfg.instance}"

    @property
    def timeout_s(self) -> float:
        return self.clients.timeout_s * 2

    def _client(self) -> Any:
        return self.clients.client("rds")

    def _snapshots(self) -> list[dict[str, Any]]:
        with translated(self.subject):
            pages = self._client().get_paginator("describe_db_snapshots").paginate(
                DBInstanceIdentifier=self.cfg.instance)
            return [s for page in pages for s in page["DBSnapshots"]]

    def _newest(self) -> datetime | None:
        done = [s["SnapshotCreateTime"] for s in self._snapshots()
                if s.get("Status") == "available" and s.get("SnapshotCreateTime")]
        return max(done, default=None)

    def check(self) -> Sequence[Finding]:
        with translated(self.subject):
            db = self._client().describe_db_instances(DBInstanceIdentifier=self.cfg.instance)["DBInstances"][0]
        status = db["DBInstanceStatus"]
        findings = [Finding("rds", self.subject, Health.OK if status == "available" else Health.DEGRADED,
                            f"instance {status}")]
        newest = self._newest()
        if newest is None:
            findings.append(Finding("rds", f"snapshots of {self.subject}", Health.DEGRADED, "no snapshot found"))
        else:
            age = self.clock() - newest
            ok = age <= self.max_backup_age
            limit = "" if ok else f" (limit {humanize(self.max_backup_age)})"
            findings.append(Finding("rds", f"snapshots of {self.subject}", Health.OK if ok else Health.DEGRADED,
                                    f"newest snapshot {humanize(age)} old{limit}"))
        return findings

    def plan_backup(self) -> Plan:
        newest = self._newest()
        current = f"newest snapshot {humanize(self.clock() - newest)} old" if newest else "no snapshot yet"
        # RDS stores identifiers in lower case; the timestamp is UTC.
        snapshot = f"opsbot-{self.db_name}-{self.clock():%Y%m%d-%H%M%S}"
        return Plan("backup", self.subject, current, f"manual snapshot {snapshot}", {"snapshot": snapshot})

    def apply(self, plan: Plan, *, progress: Progress) -> Outcome:
        snapshot, started = plan.params["snapshot"], time.monotonic()
        with translated(self.subject):
            self._client().create_db_snapshot(DBSnapshotIdentifier=snapshot, DBInstanceIdentifier=self.cfg.instance)
        progress(f"Snapshot {snapshot} of {self.cfg.instance} started; waiting until it is available…")
        final = self.poller.until(lambda: self._finished(snapshot), timeout_s=self.cfg.snapshot_timeout.total_seconds())
        if final is None:
            return Outcome(False, f"snapshot {snapshot} not available after {humanize(self.cfg.snapshot_timeout)}; "
                                  "it may still finish: check the RDS console", {"snapshot": snapshot})
        if final.get("Status") != "available":
            return Outcome(False, f"snapshot {snapshot} ended {final.get('Status')}", {"snapshot": snapshot})
        took = humanize(timedelta(seconds=time.monotonic() - started))
        size = final.get("AllocatedStorage")
        return Outcome(True, f"snapshot {snapshot} available ({size} GiB, {took})", {"snapshot": snapshot})

    def _finished(self, snapshot: str) -> dict[str, Any] | None:
        with translated(self.subject):
            found = self._client().describe_db_snapshots(DBSnapshotIdentifier=snapshot)["DBSnapshots"]
        status = found[0].get("Status") if found else None
        return found[0] if status in ("available", "failed", "error", "deleted") else None
