"""Scheduled checklists and reports: APScheduler 3 on the bot's own database, run by one replica at a time.

- Jobs live in APScheduler's SQLAlchemyJobStore (table `apscheduler_jobs`, created by migration 0008), so a
  bot that was down knows which slot fell due meanwhile.
- One replica leads (`schedules.leader`); only the leader runs APScheduler. A standby waits for the leader's
  lock, so it leads as soon as the leader stops or dies (on PostgreSQL at once; on a SQLite file within
  `leader.FILE_POLL_S`).
- A slot runs once even if two leaders ever overlapped: `checklist_runs` is unique on (name, slot).
- Late slots: `coalesce` runs a backlog once. Within `scheduler.misfire_grace_time` the slot runs and the
  report says how late it is; beyond it the slot is stored as skipped (`/ops checklist history` shows it).
"""
from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from bot.clock import humanize
from bot.config import OpsConfig
from bot.cron import cron_trigger
from bot.delivery import SCHEDULED, RetryPolicy
from bot.errors import new_ref
from bot.runtime import Runtime
from schedules import cards, checklists
from schedules.leader import Lock, lock_for
from schedules.weekly_report import weekly_report

log = logging.getLogger(__name__)
JOB_FUNC = "schedules.scheduler:scheduled"
TABLE = "apscheduler_jobs"
STANDBY_SLICE_S = 1.0
INTERRUPTED_AFTER = timedelta(minutes=15)   # a run "running" this long died with the replica that ran it


def scheduled(kind: str, name: str) -> None:
    """What the job store records as each job's function. Jobs run through `_SlotExecutor`, which knows the
    runtime and the slot; calling this directly is a mistake."""
    raise RuntimeError(f"{kind} {name!r} must be run by opsbot's scheduler, not called directly")


@dataclass(frozen=True, slots=True)
class JobSpec:
    kind: str                    # checklist | report
    name: str
    cron: str
    zone: str
    grace_s: int

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def fingerprint(self) -> str:
        """Stored as the job's name: a job whose fingerprint still matches keeps its next run time."""
        return f"{self.cron} @{self.zone} grace={self.grace_s}s"


def job_specs(cfg: OpsConfig) -> list[JobSpec]:
    """Every checklist and report that has a schedule, as the job it becomes."""
    grace = int(cfg.scheduler.misfire_grace_time.total_seconds())
    specs = [JobSpec("checklist", n, c.schedule, c.timezone or cfg.timezone, grace)
             for n, c in cfg.checklists.items() if c.schedule]
    specs += [JobSpec("report", n, r.schedule, r.timezone or cfg.timezone, grace)
              for n, r in cfg.reports.items() if r.schedule]
    return specs


class SlotJobs:
    """What each scheduled slot does: run and post a checklist or a report, or record that it was missed.

    Posting goes through the Board with the SCHEDULED retry policy; a report that still cannot be posted stays
    stored, and history says it was not posted."""

    def __init__(self, rt: Runtime, *, policy: RetryPolicy = SCHEDULED, stop: threading.Event | None = None) -> None:
        self.rt, self.policy = rt, policy
        self.stop = stop or threading.Event()

    def wanted(self) -> list[JobSpec]:
        return job_specs(self.rt.config)

    def run(self, kind: str, name: str, slot: datetime) -> None:
        try:
            if kind == "checklist" and name in self.rt.config.checklists:
                self._checklist(name, slot)
            elif kind == "report" and name in self.rt.config.reports:
                self._report(name, slot)
            else:
                log.warning("scheduled %s %r is no longer in the config; nothing to do", kind, name)
        except Exception:
            log.exception("scheduled %s %r for %s failed: ref=%s", kind, name, slot.isoformat(), new_ref())

    def missed(self, kind: str, name: str, slot: datetime, late: timedelta, grace: timedelta) -> None:
        local = slot.astimezone(ZoneInfo(self._zone(kind, name)))
        reason = (f"skipped: due {local:%a %d %b %H:%M %Z} while the bot was not running; it came back "
                  f"{humanize(late)} late, past the {humanize(grace)} grace (scheduler.misfire_grace_time)")
        log.warning("%s %s: %s", kind, name, reason)
        if kind == "checklist":
            checklists.record_missed(self.rt, name, scheduled_for=slot, reason=reason)
        else:
            checklists.record_missed_report(self.rt, name, scheduled_for=slot, reason=reason)

    def _zone(self, kind: str, name: str) -> str:
        item = (self.rt.config.checklists if kind == "checklist" else self.rt.config.reports).get(name)
        return (item.timezone if item else None) or self.rt.config.timezone

    def _channel(self, configured: str | None) -> str:
        return configured or self.rt.config.channels.default

    def _checklist(self, name: str, slot: datetime) -> None:
        run_id = checklists.run_checklist(self.rt, name, scheduled_for=slot, trigger="schedule")
        if run_id is None:
            log.info("checklist %s for %s already ran", name, slot.isoformat())
            return
        run = checklists.get_run(self.rt, run_id)
        channel = self._channel(self.rt.config.checklists[name].channel)
        report = cards.card(run, self.rt.config)
        if not self._deliver(partial(self.rt.board.show, report, channel=channel),
                             f"checklist {name} run #{run_id} (stored) to {channel}"):
            return
        checklists.mark_posted(self.rt, run_id)
        for part in cards.details(run):
            self._deliver(partial(self.rt.board.post, channel, part, thread=report.ref),
                          f"the details of checklist run #{run_id}")

    def _deliver(self, send: Callable[[], object], what: str) -> bool:
        return self.policy.deliver(send, what, stop=self.stop, level=logging.ERROR)

    def _report(self, name: str, slot: datetime) -> None:
        report = self.rt.config.reports[name]
        run_id = checklists.claim_report(self.rt, name, scheduled_for=slot)
        if run_id is None:
            log.info("report %s for %s already posted", name, slot.isoformat())
            return
        channel = self._channel(report.channel)
        try:
            reply = weekly_report(self.rt, end=slot, zone=self._zone("report", name), title=report.title)
        except Exception:
            ref = new_ref()
            log.exception("report %s for %s could not be made: ref=%s", name, slot.isoformat(), ref)
            checklists.report_done(self.rt, run_id, posted=False, summary=f"could not be made (ref `{ref}`)")
            return
        posted = self._deliver(partial(self.rt.board.post, channel, reply), f"report {name} for {slot.isoformat()}")
        checklists.report_done(self.rt, run_id, posted=posted,
                               summary="posted" if posted else f"not posted to {channel} (see the bot's log)")


class _SlotExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    """APScheduler's thread pool, but each run gets its slot (the scheduled time) and the bot's runtime.

    `_do_submit_job` is the executor extension point; the misfire rule is APScheduler's own (a run later
    than the job's misfire_grace_time is missed), except that a missed slot is also stored for history."""

    def __init__(self, jobs: SlotJobs) -> None:
        super().__init__(max_workers=4)
        self.jobs = jobs

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def done(future: Any) -> None:
            exc = future.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        self._pool.submit(self._run, job, run_times).add_done_callback(done)

    def _run(self, job: Any, run_times: list[datetime]) -> list[Any]:
        kind, name = job.args
        events = []
        for run_time in run_times:
            slot = run_time.astimezone(UTC)
            late = self.jobs.rt.clock() - slot
            if job.misfire_grace_time is not None and late > timedelta(seconds=job.misfire_grace_time):
                self.jobs.missed(kind, name, slot, late, timedelta(seconds=job.misfire_grace_time))
                events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, job._jobstore_alias, run_time))
                continue
            self.jobs.run(kind, name, slot)
            events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, job._jobstore_alias, run_time))
        return events


def sync_jobs(aps: Any, specs: list[JobSpec]) -> None:
    """Make the job store match the config without losing a slot that is already due."""
    existing = {job.id: job for job in aps.get_jobs()}
    wanted = {spec.id: spec for spec in specs}
    for job_id in existing.keys() - wanted.keys():
        aps.remove_job(job_id)
        log.info("schedule %s removed: no longer in the config", job_id)
    for spec in specs:
        job = existing.get(spec.id)
        if job is not None and job.name == spec.fingerprint:
            continue            # unchanged: keep its next run time, even one in the past (the bot was down)
        aps.add_job(JOB_FUNC, cron_trigger(spec.cron, ZoneInfo(spec.zone)),
                    args=[spec.kind, spec.name], id=spec.id, name=spec.fingerprint, replace_existing=True,
                    misfire_grace_time=spec.grace_s, coalesce=True, max_instances=1)
        log.info("schedule %s: %s", spec.id, spec.fingerprint)


class ScheduleRunner:
    """Leads when it can, runs APScheduler while it leads, stops the moment it is no longer sure it leads."""

    def __init__(self, rt: Runtime, *, lock: Lock | None = None, policy: RetryPolicy = SCHEDULED) -> None:
        self.rt = rt
        self.jobs = SlotJobs(rt, policy=policy)
        self.lock = lock if lock is not None else lock_for(rt.engine)
        self._aps: Any = None
        self._guard = threading.Lock()
        self._standing_by = False
        self.slots_done = 0          # slots run or recorded as missed by this replica (read by tests and logs)

    @property
    def leading(self) -> bool:
        return self._aps is not None

    def step(self) -> bool:
        """One leadership check: take the lead if free, give it up if the lock is gone. True while leading."""
        with self._guard:
            if self._aps is None:
                if not self.lock.try_acquire():
                    if not self._standing_by:
                        log.info("another replica runs the schedule; this one stands by")
                        self._standing_by = True
                else:
                    self._standing_by = False
                    try:
                        self._aps = self._start()
                    except Exception:
                        self.lock.release()
                        raise
                    log.info("this replica now runs the schedule (%d job(s))", len(self.jobs.wanted()))
            elif not self.lock.held():
                log.error("lost the scheduler lock (database connection gone): this replica stops scheduling")
                self._stop()
            return self._aps is not None

    def wakeup(self) -> None:
        """Look at the schedule now (after the clock moved in a test, or the config changed)."""
        if self._aps is not None:
            self._aps.wakeup()

    def next_run(self, kind: str, name: str) -> datetime | None:
        job = self._aps.get_job(f"{kind}:{name}") if self._aps is not None else None
        return job.next_run_time if job is not None else None

    def run_forever(self, stop: threading.Event) -> None:
        """Lead or stand by until `stop`; then stop scheduling and release the lock, so that a standby leads
        at once. A leader checks its lock every `leader_poll`; a standby waits for the lock itself."""
        self.jobs.stop = stop
        poll = self.rt.config.scheduler.leader_poll.total_seconds()
        try:
            while not stop.is_set():
                try:
                    leading = self.step()
                except Exception:
                    log.exception("scheduler: leadership check failed; retrying in %.0fs", poll)
                    leading = True               # wait a poll before the next try
                if leading:
                    stop.wait(poll)
                else:
                    self._stand_by(stop, poll)
        finally:
            self.close()

    def _stand_by(self, stop: threading.Event, poll: float) -> None:
        """Wait for the lock for up to `poll`, in slices of STANDBY_SLICE_S so that a stop is seen quickly."""
        slices = max(1, math.ceil(poll / STANDBY_SLICE_S))      # counted, not timed: tests freeze the clock
        for _ in range(slices):
            if stop.is_set() or self.lock.wait_acquire(min(poll, STANDBY_SLICE_S)):
                return                           # stopping, or ours: the next step() starts the schedule

    def close(self) -> None:
        with self._guard:
            self._stop()

    def _start(self) -> Any:
        closed = checklists.close_interrupted(self.rt, older_than=INTERRUPTED_AFTER)
        if closed:
            log.warning("marked %d checklist run(s) interrupted: the replica running them stopped", closed)
        aps = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.rt.engine, tablename=TABLE)},
            executors={"default": _SlotExecutor(self.jobs)}, timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1})
        aps.add_listener(self._slot_done, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
        aps.start(paused=True)          # paused: read the stored jobs and sync them before anything fires
        sync_jobs(aps, self.jobs.wanted())
        aps.resume()
        return aps

    def _slot_done(self, event: Any) -> None:
        self.slots_done += 1

    def _stop(self) -> None:
        aps, self._aps = self._aps, None
        if aps is not None:
            aps.shutdown(wait=False)
        self.lock.release()
