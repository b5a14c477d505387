"""Running a checklist: every automated check at once through the integration adapters, manual steps as
to-dos, the whole run and each item stored. A scheduled slot runs once (unique (checklist, scheduled_for))."""
from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.alerts.heartbeats import Heartbeats, HeartbeatSource
from bot.config.checklists import BackupAgeCheck, Check, HeartbeatCheck, ManualCheck, NodesCheck, ServiceCheck
from bot.errors import ConflictError, NotFoundError, new_ref
from bot.runtime import Runtime
from bot.storage.db import session_scope
from bot.storage.models import ChecklistItem, ChecklistRun, ReportRun
from integrations.base import NODES, Health, StatusSource, check_key
from integrations.status import ServiceState, check_services

log = logging.getLogger(__name__)


class CheckResult(enum.StrEnum):
    """A checklist run's or item's result."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    TODO = "todo"                # a manual step not done yet
    DONE = "done"                # a manual step someone did
    ERROR = "error"              # the run itself broke, or was interrupted
    RUNNING = "running"
    SKIPPED = "skipped"          # a scheduled slot missed beyond the grace time
    MAINTENANCE = "maint"        # its service is in a maintenance window: not checked, neither ok nor failing


class ReportResult(enum.StrEnum):
    RUNNING = "running"
    POSTED = "posted"
    FAILED = "failed"            # rendered but Slack refused it, or it could not be rendered
    SKIPPED = "skipped"


VERDICT = {Health.OK: CheckResult.OK, Health.DEGRADED: CheckResult.WARN, Health.UNKNOWN: CheckResult.WARN,
           Health.DOWN: CheckResult.FAIL}
MAX_DETAILS = 4000


def _sources(rt: Runtime, name: str, position: int, check: Check) -> tuple[StatusSource, ...] | None:
    """What answers one check; None for a step done by a person."""
    own = rt.integrations.check_sources.get(check_key(name, position))
    if own is not None:
        return (own,)
    if isinstance(check, ManualCheck):
        return None
    if isinstance(check, HeartbeatCheck):       # read from the bot's own database, not through an adapter
        return (HeartbeatSource(Heartbeats(rt.sessions, rt.clock, rt.config), check),)
    if isinstance(check, ServiceCheck) and check.service is not None:
        return tuple(rt.integrations.status_sources.get(check.service, ()))
    if isinstance(check, BackupAgeCheck):
        return tuple(rt.integrations.status_sources.get(check.database, ()))
    if isinstance(check, NodesCheck):
        return tuple(rt.integrations.status_sources.get(NODES, ()))
    return ()


def _claim_slot(rt: Runtime, run: ChecklistRun | ReportRun) -> int | None:
    try:
        with session_scope(rt.sessions) as session:
            session.add(run)
            session.flush()
            return run.id
    except IntegrityError:
        return None


def run_checklist(rt: Runtime, name: str, *, scheduled_for: datetime, trigger: str,
                  requested_by: str | None = None) -> int | None:
    """Run `name` for the slot `scheduled_for`; the run id, or None when that slot already ran.

    A checklist that cannot run at all (a crash in here) is stored as result `error` with a reference,
    so the report says so instead of saying nothing."""
    run_id = _claim_slot(rt, ChecklistRun(checklist=name, scheduled_for=scheduled_for, started_at=rt.clock(),
                                          trigger=trigger, requested_by=requested_by, result=CheckResult.RUNNING))
    if run_id is None:
        return None
    try:
        items = _evaluate(rt, name)
    except Exception:
        ref = new_ref()
        log.exception("checklist %s could not run: ref=%s", name, ref)
        _finish(rt, run_id, [], error=f"the checklist could not run (ref `{ref}`); see the bot's log")
        return run_id
    _finish(rt, run_id, items)
    return run_id


def record_missed(rt: Runtime, name: str, *, scheduled_for: datetime, reason: str) -> int | None:
    """Store a scheduled slot that was skipped (the bot was down past the grace time): history shows it."""
    now = rt.clock()
    return _claim_slot(rt, ChecklistRun(checklist=name, scheduled_for=scheduled_for, started_at=now,
                                        finished_at=now, trigger="schedule", result=CheckResult.SKIPPED,
                                        summary=reason))


def claim_report(rt: Runtime, name: str, *, scheduled_for: datetime) -> int | None:
    """Claim a scheduled report's slot; None when it was already taken (another replica, a restart)."""
    return _claim_slot(rt, ReportRun(report=name[:64], scheduled_for=scheduled_for, started_at=rt.clock(),
                                     result=ReportResult.RUNNING))


def record_missed_report(rt: Runtime, name: str, *, scheduled_for: datetime, reason: str) -> int | None:
    return _claim_slot(rt, ReportRun(report=name[:64], scheduled_for=scheduled_for, started_at=rt.clock(),
                                     result=ReportResult.SKIPPED, summary=reason))


def report_done(rt: Runtime, run_id: int, *, posted: bool, summary: str) -> None:
    """A report slot ends posted, or failed (rendered but not delivered: the log says why)."""
    with session_scope(rt.sessions) as session:
        row = session.get(ReportRun, run_id)
        if row is not None:
            row.result = ReportResult.POSTED if posted else ReportResult.FAILED
            row.summary, row.posted_at = summary, rt.clock() if posted else None


def close_interrupted(rt: Runtime, *, older_than: timedelta) -> int:
    """Runs left `running` by a replica that died mid-run: mark them, so history does not show them forever."""
    now = rt.clock()
    with session_scope(rt.sessions) as session:
        changed = session.execute(update(ChecklistRun).where(
            ChecklistRun.result == CheckResult.RUNNING, ChecklistRun.started_at < now - older_than)
            .values(result=CheckResult.ERROR, finished_at=now, summary="interrupted: the bot stopped during this run")
            .execution_options(synchronize_session=False))
        return int(changed.rowcount)  # type: ignore[attr-defined]


def _evaluate(rt: Runtime, name: str) -> list[ChecklistItem]:
    checklist = rt.config.checklists[name]
    coverage = rt.maintenance.current()
    resting = {p: w for p, c in enumerate(checklist.checks)
               if (w := coverage.window(_service_of(c))) is not None and _service_of(c) is not None}
    wanted = {str(p): _sources(rt, name, p, c) for p, c in enumerate(checklist.checks) if p not in resting}
    sources: Mapping[str, tuple[StatusSource, ...]] = {k: v for k, v in wanted.items() if v is not None}
    states = {s.name: s for s in check_services(sources)} if sources else {}
    items = []
    for position, check in enumerate(checklist.checks):
        if position in resting:
            window = resting[position]
            why = f"in maintenance until {rt.maintenance.when(window.ends_at, window)}" + (
                f" ({window.reason})" if window.reason else "")
            items.append(ChecklistItem(position=position, kind=check.check, label=check.label[:300],
                                       result=CheckResult.MAINTENANCE, reason=why[:1000], details=None))
            continue
        state = states.get(str(position))
        result, reason = _verdict(state, manual=wanted[str(position)] is None)
        items.append(ChecklistItem(position=position, kind=check.check, label=check.label[:300], result=result,
                                   reason=reason, details=_details(state)))
    return items


def _finish(rt: Runtime, run_id: int, items: list[ChecklistItem], *, error: str | None = None) -> None:
    with session_scope(rt.sessions) as session:
        run = session.get(ChecklistRun, run_id)
        assert run is not None
        run.items.extend(items)
        results = [item.result for item in items]
        if error is not None:
            run.result, run.summary = CheckResult.ERROR, error
        else:
            run.result = (CheckResult.FAIL if CheckResult.FAIL in results else
                          CheckResult.WARN if CheckResult.WARN in results else CheckResult.OK)
            run.summary = ", ".join(f"{results.count(r)} {word}" for r, word in
                                    ((CheckResult.FAIL, "failed"), (CheckResult.WARN, "warning"),
                                     (CheckResult.OK, "passed"), (CheckResult.MAINTENANCE, "in maintenance"),
                                     (CheckResult.TODO, "to do"))
                                    if results.count(r))
        run.finished_at = rt.clock()
        result = run.result
    rt.metrics.checklist_runs.labels(result.value).inc()


def _service_of(check: Check) -> str | None:
    """The service a check is about (a `service:` check's), or None: only those rest during maintenance."""
    service = getattr(check, "service", None)
    return service if isinstance(service, str) else None


def _verdict(state: ServiceState | None, *, manual: bool) -> tuple[CheckResult, str | None]:
    if manual:
        return CheckResult.TODO, None
    if state is None or not state.findings:
        return CheckResult.WARN, "no checks configured for it"
    bad = [f"{f.source}: {f.summary}" for f in state.findings if f.health is not Health.OK]
    return VERDICT[state.health], "; ".join(bad)[:1000] or None


def _details(state: ServiceState | None) -> str | None:
    """Every finding of one check, one line each, for the report's thread."""
    if state is None or not state.findings:
        return None
    lines = []
    for f in state.findings:
        extra = ", ".join(f"{k}={v}" for k, v in f.details.items())
        lines.append(f"{f.health.value} · {f.source} · {f.subject}: {f.summary}" + (f" ({extra})" if extra else ""))
    return "\n".join(lines)[:MAX_DETAILS]


@dataclass(frozen=True, slots=True)
class ItemRecord:
    position: int
    kind: str
    label: str
    result: str
    reason: str | None
    done_by: str | None
    done_at: datetime | None
    details: str | None = None


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    checklist: str
    scheduled_for: datetime
    started_at: datetime
    trigger: str
    requested_by: str | None
    result: str
    summary: str | None
    posted_at: datetime | None
    items: tuple[ItemRecord, ...]


def _record(row: ChecklistRun) -> RunRecord:
    return RunRecord(row.id, row.checklist, row.scheduled_for, row.started_at, row.trigger, row.requested_by,
                     row.result, row.summary, row.posted_at,
                     tuple(ItemRecord(i.position, i.kind, i.label, i.result, i.reason, i.done_by, i.done_at, i.details)
                           for i in row.items))


def get_run(rt: Runtime, run_id: int) -> RunRecord:
    with session_scope(rt.sessions) as session:
        row = session.get(ChecklistRun, run_id)
        if row is None:
            raise NotFoundError(f"There is no checklist run #{run_id}.")
        return _record(row)


def history(rt: Runtime, name: str, *, limit: int = 10) -> list[RunRecord]:
    with session_scope(rt.sessions) as session:
        rows = session.scalars(select(ChecklistRun).where(ChecklistRun.checklist == name)
                               .order_by(ChecklistRun.scheduled_for.desc()).limit(limit)).all()
        return [_record(r) for r in rows]


def mark_posted(rt: Runtime, run_id: int) -> None:
    """The run's report reached its channel (history says so when it did not)."""
    with session_scope(rt.sessions) as session:
        row = session.get(ChecklistRun, run_id)
        if row is not None:
            row.posted_at = rt.clock()


def mark_done(rt: Runtime, run_id: int, position: int, *, user: str) -> RunRecord:
    """Record who did a manual step, once, and return the run as it is now; ConflictError names who did it
    first."""
    with session_scope(rt.sessions) as session:
        changed = session.execute(update(ChecklistItem).where(
            ChecklistItem.run_id == run_id, ChecklistItem.position == position,
            ChecklistItem.result == CheckResult.TODO)
            .values(result=CheckResult.DONE, done_by=user, done_at=rt.clock())
            .execution_options(synchronize_session=False))
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            run = session.get(ChecklistRun, run_id)
            assert run is not None
            session.refresh(run)
            return _record(run)
        item = session.scalars(select(ChecklistItem).where(ChecklistItem.run_id == run_id,
                                                           ChecklistItem.position == position)).first()
        if item is None or item.kind != "manual":
            raise NotFoundError("That checklist step does not exist.")
        raise ConflictError(f"Already done by <@{item.done_by}>.")


@dataclass(frozen=True, slots=True)
class ReportRunRecord:
    id: int
    report: str
    scheduled_for: datetime
    result: str
    summary: str | None
    posted_at: datetime | None


def report_history(rt: Runtime, name: str, *, limit: int = 10) -> list[ReportRunRecord]:
    with session_scope(rt.sessions) as session:
        rows = session.scalars(select(ReportRun).where(ReportRun.report == name)
                               .order_by(ReportRun.scheduled_for.desc()).limit(limit)).all()
        return [ReportRunRecord(r.id, r.report, r.scheduled_for, r.result, r.summary, r.posted_at) for r in rows]
