"""Running a checklist: every automated check at once through the integration adapters, manual steps as
to-dos, the whole run and each item stored. A scheduled slot runs once (unique (checklist, scheduled_for))."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.config import BackupAgeCheck, Check, ManualCheck, NodesCheck, ServiceCheck
from bot.errors import ConflictError, NotFoundError
from bot.runtime import Runtime
from bot.storage.db import session_scope
from bot.storage.models import ChecklistItem, ChecklistRun
from integrations import NODES
from integrations.base import Health, StatusSource
from integrations.status import ServiceState, check_services

VERDICT = {Health.OK: "ok", Health.DEGRADED: "warn", Health.UNKNOWN: "warn", Health.DOWN: "fail"}


def label(check: Check) -> tuple[str, str]:
    """(kind, what a person reads) for one configured check."""
    if isinstance(check, ServiceCheck):
        return "service", check.service
    if isinstance(check, BackupAgeCheck):
        return "backup_age", f"backup of {check.database}"
    if isinstance(check, NodesCheck):
        return "kubernetes_nodes", "Kubernetes nodes"
    assert isinstance(check, ManualCheck)
    return "manual", check.text


def _source_key(check: Check) -> str | None:
    if isinstance(check, ServiceCheck):
        return check.service
    if isinstance(check, BackupAgeCheck):
        return check.database
    if isinstance(check, NodesCheck):
        return NODES
    return None


def run_checklist(rt: Runtime, name: str, *, scheduled_for: datetime, trigger: str,
                  requested_by: str | None = None) -> int | None:
    """Run `name` for the slot `scheduled_for`; the run id, or None when that slot already ran."""
    checklist = rt.config.checklists[name]
    try:
        with session_scope(rt.sessions) as session:
            run = ChecklistRun(checklist=name, scheduled_for=scheduled_for, started_at=rt.clock(), trigger=trigger,
                               requested_by=requested_by, result="running")
            session.add(run)
            session.flush()
            run_id = run.id
    except IntegrityError:
        return None
    keys = {k for c in checklist.checks if (k := _source_key(c)) is not None}
    sources: Mapping[str, tuple[StatusSource, ...]] = {k: rt.integrations.status_sources.get(k, ()) for k in keys}
    states = {s.name: s for s in check_services(sources)} if sources else {}
    with session_scope(rt.sessions) as session:
        stored = session.get(ChecklistRun, run_id)
        assert stored is not None
        run = stored
        for position, check in enumerate(checklist.checks):
            kind, text = label(check)
            result, reason = _verdict(states.get(_source_key(check) or ""), manual=kind == "manual")
            run.items.append(ChecklistItem(position=position, kind=kind, label=text[:300], result=result,
                                           reason=reason))
        results = [item.result for item in run.items]
        run.result = "fail" if "fail" in results else "warn" if "warn" in results else "ok"
        run.summary = ", ".join(f"{results.count(r)} {word}" for r, word in
                                (("fail", "failed"), ("warn", "warning"), ("ok", "passed"), ("todo", "to do"))
                                if results.count(r))
        run.finished_at = rt.clock()
    return run_id


def _verdict(state: ServiceState | None, *, manual: bool) -> tuple[str, str | None]:
    if manual:
        return "todo", None
    if state is None or not state.findings:
        return "warn", "no checks configured for it"
    bad = [f"{f.source}: {f.summary}" for f in state.findings if f.health is not Health.OK]
    return VERDICT[state.health], "; ".join(bad)[:1000] or None


@dataclass(frozen=True, slots=True)
class ItemRecord:
    position: int
    kind: str
    label: str
    result: str
    reason: str | None
    done_by: str | None
    done_at: datetime | None


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
    slack_channel: str | None
    slack_ts: str | None
    items: tuple[ItemRecord, ...]


def _record(row: ChecklistRun) -> RunRecord:
    return RunRecord(row.id, row.checklist, row.scheduled_for, row.started_at, row.trigger, row.requested_by,
                     row.result, row.summary, row.slack_channel, row.slack_ts,
                     tuple(ItemRecord(i.position, i.kind, i.label, i.result, i.reason, i.done_by, i.done_at)
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


def attach(rt: Runtime, run_id: int, channel: str, ts: str) -> None:
    with session_scope(rt.sessions) as session:
        row = session.get(ChecklistRun, run_id)
        if row is not None:
            row.slack_channel, row.slack_ts = channel, ts


def mark_done(rt: Runtime, run_id: int, position: int, *, user: str) -> None:
    """Record who did a manual step, once; ConflictError names who did it first."""
    with session_scope(rt.sessions) as session:
        changed = session.execute(update(ChecklistItem).where(
            ChecklistItem.run_id == run_id, ChecklistItem.position == position, ChecklistItem.result == "todo")
            .values(result="done", done_by=user, done_at=rt.clock()).execution_options(synchronize_session=False))
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            return
        item = session.scalars(select(ChecklistItem).where(ChecklistItem.run_id == run_id,
                                                           ChecklistItem.position == position)).first()
        if item is None or item.kind != "manual":
            raise NotFoundError("That checklist step does not exist.")
        raise ConflictError(f"Already done by <@{item.done_by}>.")
