"""An RDS instance: its status, the age of its newest snapshot, and a manual snapshot on demand."""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from bot.clock import humanize
from bot.config import services as cfgs
from integrations.aws import AwsClients
from integrations.aws.errors import code_of, translated
from integrations.base import BackupPlan, Finding, Health, Outcome, Progress
from integrations.polling import Poller

# DBInstanceStatus: serving normally / not serving; anything else (modifying, rebooting, ...) is degraded.
SERVING = {"available", "backing-up", "storage-optimization", "configuring-enhanced-monitoring",
           "configuring-log-exports", "configuring-iam-database-auth"}
NOT_SERVING = {"failed", "stopped", "stopping", "storage-full", "inaccessible-encryption-credentials",
               "incompatible-network", "incompatible-parameters", "incompatible-restore", "restore-error"}
SNAPSHOT_ENDS = {"available", "failed", "error", "deleted", "incompatible-restore"}


def snapshot_name(db_name: str, at: datetime) -> str:
    """`opsbot-<db>-<UTC yyyymmddThhmmssZ>`; characters RDS does not allow in an identifier become '-'.
    RDS keeps identifiers in lower case, so AWS reports this name lower-cased."""
    safe = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9-]", "-", db_name)).strip("-")
    return f"opsbot-{safe}-{at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


class RdsInstance:
    """StatusSource + BackupTarget: a manual snapshot, watched until it is available."""

    def __init__(self, db_name: str, cfg: cfgs.RdsInstanceConfig, clients: AwsClients, *, max_backup_age: timedelta,
                 clock: Callable[[], datetime], poll_interval_s: float = 15.0,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.db_name, self.cfg, self.clients = db_name, cfg, clients
        self.max_backup_age, self.clock, self.monotonic = max_backup_age, clock, monotonic
        self.poller = Poller(interval_s=poll_interval_s, sleep=sleep, monotonic=monotonic)
        self.subject = f"rds {cfg.instance}"

    @property
    def timeout_s(self) -> float:
        return 2 * self.clients.timeout_s          # two calls: the instance, then its snapshots

    def _client(self) -> Any:
        return self.clients.client("rds")

    def _instance(self) -> dict[str, Any]:
        with translated(self.subject):
            return dict(self._client().describe_db_instances(DBInstanceIdentifier=self.cfg.instance)["DBInstances"][0])

    def check(self) -> Sequence[Finding]:
        status = str(self._instance()["DBInstanceStatus"])
        health = Health.OK if status in SERVING else Health.DOWN if status in NOT_SERVING else Health.DEGRADED
        return [Finding("rds", self.subject, health, f"instance {status}"), self._backup_finding()]

    def _backup_finding(self) -> Finding:
        subject = f"{self.subject} snapshots"
        newest = self._newest()
        if newest is None:
            return Finding("rds", subject, Health.DEGRADED, "no snapshot found")
        age = self.clock() - newest["SnapshotCreateTime"]
        late = age > self.max_backup_age
        summary = f"newest snapshot {humanize(age)} old ({newest.get('SnapshotType', '?')})" + \
                  (f", older than {humanize(self.max_backup_age)}" if late else "")
        return Finding("rds", subject, Health.DEGRADED if late else Health.OK, summary,
                       details={"snapshot": str(newest["DBSnapshotIdentifier"])})

    def _newest(self) -> dict[str, Any] | None:
        """The newest available snapshot of the instance, manual or automated."""
        with translated(self.subject):
            pages = self._client().get_paginator("describe_db_snapshots").paginate(
                DBInstanceIdentifier=self.cfg.instance)
            done = [s for page in pages for s in page["DBSnapshots"]
                    if s.get("Status") == "available" and s.get("SnapshotCreateTime")]
        return max(done, key=lambda s: s["SnapshotCreateTime"], default=None)

    def plan_backup(self) -> BackupPlan:
        self._instance()                            # TargetNotFoundError now, not after the confirmation
        newest = self._newest()
        current = f"newest snapshot {humanize(self.clock() - newest['SnapshotCreateTime'])} old" if newest \
            else "no snapshot yet"
        snapshot = snapshot_name(self.db_name, self.clock())
        return BackupPlan(target=self.subject, current=current, desired=f"manual snapshot {snapshot}", name=snapshot)

    def backup(self, plan: BackupPlan, *, progress: Progress) -> Outcome:
        snapshot, started = plan.name, self.monotonic()
        self._create(snapshot, progress)
        progress(f"Snapshot {snapshot} of {self.cfg.instance} started; waiting until it is available…")
        final = self.poller.until(lambda: self._finished(snapshot), timeout_s=self.cfg.snapshot_timeout.total_seconds())
        if final is None:
            return Outcome(False, f"snapshot {snapshot} not available after {humanize(self.cfg.snapshot_timeout)}; "
                                  "it may still finish: check the RDS console", {"snapshot": snapshot})
        name = str(final.get("DBSnapshotIdentifier", snapshot))
        if final.get("Status") != "available":
            return Outcome(False, f"snapshot {name} ended {final.get('Status')}", {"snapshot": name})
        took = humanize(timedelta(seconds=self.monotonic() - started))
        size = final.get("AllocatedStorage", "?")
        return Outcome(True, f"snapshot {name} available ({size} GiB, took {took})",
                       {"snapshot": name, "size_gib": str(size), "duration": took})

    def _create(self, snapshot: str, progress: Progress) -> None:
        """Exactly one create. If botocore's retry of it finds our own snapshot already there, watch that one."""
        with translated(self.subject):
            try:
                self._client().create_db_snapshot(DBSnapshotIdentifier=snapshot, DBInstanceIdentifier=self.cfg.instance,
                                                  Tags=[{"Key": "created-by", "Value": "opsbot"}])
            except ClientError as exc:
                if code_of(exc) != "DBSnapshotAlreadyExists":
                    raise
                progress(f"Snapshot {snapshot} already exists (a retried request); watching it.")

    def _finished(self, snapshot: str) -> dict[str, Any] | None:
        with translated(self.subject):
            found = self._client().describe_db_snapshots(DBSnapshotIdentifier=snapshot)["DBSnapshots"]
        return dict(found[0]) if found and found[0].get("Status") in SNAPSHOT_ENDS else None
