"""Database backups made by a Kubernetes CronJob: the age of its newest successful Job, and a manual run
(like `kubectl create job --from=cronjob/<name>`) watched to completion."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from kubernetes import client

from bot.clock import humanize
from bot.config import services as cfgs
from integrations.base import AdapterError, BackupPlan, Finding, Health, Outcome, Progress
from integrations.kubernetes import Monotonic, Sleep, _Api, _owned_by, _true
from integrations.polling import Poller


class KubernetesCronJobBackup:
    """Backups made by a CronJob: the age of the newest successful run, and a manual run on demand."""

    def __init__(self, cfg: cfgs.KubernetesCronJobConfig, api: client.ApiClient, *, timeout_s: float,
                 max_backup_age: timedelta, clock: Callable[[], datetime], poll_interval_s: float = 2.0,
                 sleep: Sleep = time.sleep, monotonic: Monotonic = time.monotonic) -> None:
        self.cfg, self.k, self.max_backup_age, self.clock = cfg, _Api(api, timeout_s), max_backup_age, clock
        self.poll_interval_s, self.sleep, self.monotonic = poll_interval_s, sleep, monotonic
        self.subject = f"cronjob/{cfg.name} in {cfg.namespace}"

    @property
    def timeout_s(self) -> float:
        return self.k.timeout_s

    def _jobs(self) -> list[Any]:
        items = self.k.call(self.subject, self.k.batch.list_namespaced_job, self.cfg.namespace).items
        return [j for j in items
                if _owned_by(j, "CronJob", self.cfg.name) or j.metadata.name.startswith(f"{self.cfg.name}-")]

    def _newest_success(self) -> datetime | None:
        done = [j.status.completion_time for j in self._jobs()
                if j.status and (j.status.succeeded or 0) >= 1 and j.status.completion_time]
        return max(done, default=None)

    def check(self) -> Sequence[Finding]:
        newest = self._newest_success()
        if newest is None:
            return [Finding("kubernetes", self.subject, Health.DEGRADED, "no successful backup job found")]
        age = self.clock() - newest
        health = Health.OK if age <= self.max_backup_age else Health.DEGRADED
        limit = "" if health is Health.OK else f" (limit {humanize(self.max_backup_age)})"
        return [Finding("kubernetes", self.subject, health, f"newest backup {humanize(age)} old{limit}")]

    def plan_backup(self) -> BackupPlan:
        self.k.call(self.subject, self.k.batch.read_namespaced_cron_job, self.cfg.name, self.cfg.namespace)
        newest = self._newest_success()
        current = f"newest backup {humanize(self.clock() - newest)} old" if newest else "no successful backup yet"
        job = f"{self.cfg.name[:36]}-opsbot-{self.clock():%Y%m%d%H%M%S}"
        return BackupPlan(target=self.subject, current=current, desired=f"job {job} from cronjob/{self.cfg.name}",
                          name=job)

    def backup(self, plan: BackupPlan, *, progress: Progress) -> Outcome:
        cron = self.k.call(self.subject, self.k.batch.read_namespaced_cron_job, self.cfg.name, self.cfg.namespace)
        template = cron.spec.job_template
        meta = template.metadata
        owner = ([{"apiVersion": "batch/v1", "kind": "CronJob", "name": self.cfg.name,
                   "uid": cron.metadata.uid, "controller": True}] if cron.metadata.uid else [])
        body = {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": plan.name, "namespace": self.cfg.namespace,
                         "labels": dict(meta.labels or {}) if meta else {},
                         "annotations": {**(dict(meta.annotations or {}) if meta else {}),
                                         "cronjob.kubernetes.io/instantiate": "manual"},
                         "ownerReferences": owner},
            "spec": self.k.api.sanitize_for_serialization(template.spec),
        }
        try:
            self.k.call(f"job/{plan.name}", self.k.batch.create_namespaced_job, self.cfg.namespace, body)
        except AdapterError as exc:
            return Outcome(False, f"could not create the backup job: {exc}")
        progress(f"Created job {plan.name} from cronjob/{self.cfg.name}; watching it…")
        return self._watch(plan.name)

    def _watch(self, name: str) -> Outcome:
        started = self.monotonic()
        poller = Poller(interval_s=self.poll_interval_s, sleep=self.sleep, monotonic=self.monotonic)
        outcome = poller.until(lambda: self._finished(name, started), timeout_s=self.cfg.job_timeout.total_seconds())
        if outcome is None:
            return Outcome(False, f"job {name} did not finish within {humanize(self.cfg.job_timeout)}", {"job": name})
        return outcome

    def _finished(self, name: str, started: float) -> Outcome | None:
        """The Job's outcome once it succeeded or failed; None while it runs."""
        job = self.k.call(f"job/{name}", self.k.batch.read_namespaced_job, name, self.cfg.namespace)
        st = job.status
        conditions = {c.type: c for c in (st.conditions or [])} if st else {}
        if st and ((st.succeeded or 0) >= 1 or _true(conditions.get("Complete"))):
            took = humanize(timedelta(seconds=self.monotonic() - started))
            if st.start_time and st.completion_time:
                took = humanize(st.completion_time - st.start_time)
            return Outcome(True, f"job {name} succeeded in {took}", {"job": name})
        failed = conditions.get("Failed")
        if failed is not None and _true(failed):
            reason = failed.message or failed.reason or "no reason given"
            return Outcome(False, f"job {name} failed: {reason[:200]}", {"job": name})
        return None
