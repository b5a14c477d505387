"""The postmortem of an incident, written from the record: what happened, in time order, and who did what.

`gather()` reads everything the database knows about one incident: its timeline (opened, acknowledged,
escalated, notes, resolved), the alerts that fired for it (those that opened it, and those of its service that
fired while it was open), and the operations run on its service meanwhile (pending_actions: who asked, who
confirmed, how it ended). `render()` is a pure function from that record to a Markdown document. MTTA and MTTR
are the same terms the weekly report averages (`time_to_acknowledge`, `time_to_resolve`), so the numbers agree.

Writing the document (Slack, a directory, S3) is the caller's; `record_written()` puts a `postmortem` line on
the timeline, which stops the reminders (bot.alerts.postmortem_reminders) and the card's request for one.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock, duration
from bot.incidents import (
    NOTE,
    POSTMORTEM,
    IncidentRecord,
    TimelineEvent,
    add_event,
    get,
    time_to_acknowledge,
    time_to_resolve,
)
from bot.storage.db import session_scope
from bot.storage.models import ActionState, Alert, Notice, PendingAction
from integrations.base import PLAN

BOT = "opsbot"                    # the actor of what the bot did on its own (bot.alerts.pipeline.BOT_ACTOR)
REMINDER_KEY = "pm:{incident}:"   # notices reminding people of a postmortem start with this (see reminders)
SLUG_MAX = 40
# Timeline kinds another source describes better: the alert's own row (fired, acknowledged, resolved).
_FROM_ALERT_ROWS = ("alert", "alert resolved")
_NOUN = {"rollback": "Rollback", "backup": "Backup", "scale": "Scale", "restart": "Restart", "redrive": "Redrive",
         "action": "Action"}
_UNSLACK = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


@dataclass(frozen=True, slots=True)
class AlertLine:
    id: int
    title: str
    severity: str
    source: str
    service: str | None
    count: int
    first_seen: datetime
    last_seen: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None


@dataclass(frozen=True, slots=True)
class OperationLine:
    id: str
    kind: str
    subject: str
    target: str
    current: str
    desired: str
    state: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    approvers: tuple[str, ...]
    finished_at: datetime | None
    outcome: str | None


@dataclass(frozen=True, slots=True)
class PostmortemRecord:
    incident: IncidentRecord
    alerts: tuple[AlertLine, ...]
    operations: tuple[OperationLine, ...]
    as_of: datetime                     # when it was gathered: the end of an incident still open


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the document's timeline."""

    at: datetime
    what: str                           # "Alert #3 fired", "Rollback of backend confirmed"
    who: str | None                     # a Slack user id, or BOT
    detail: str | None = None
    did: str | None = None              # for "who did what": "acknowledged the incident"


@dataclass(frozen=True, slots=True)
class Postmortem:
    filename: str                       # incident-12-checkout-errors.md
    markdown: str
    entries: int                        # timeline lines
    mtta: str                           # "4m 30s", or "—"
    mttr: str


def gather(*, session: Session, incident_id: int, now: datetime) -> PostmortemRecord:
    incident = get(session=session, incident_id=incident_id)
    end = incident.resolved_at or now
    linked = Alert.incident_id == incident.id
    same_service = (Alert.service == incident.service) & (Alert.first_seen >= incident.opened_at) \
        & (Alert.first_seen <= end) if incident.service else None
    alerts = session.scalars(select(Alert).where(or_(linked, same_service) if same_service is not None else linked)
                             .order_by(Alert.first_seen, Alert.id)).all()
    operations = session.scalars(select(PendingAction).where(
        PendingAction.subject == incident.service, PendingAction.requested_at >= incident.opened_at,
        PendingAction.requested_at <= end).order_by(PendingAction.requested_at, PendingAction.id)
    ).all() if incident.service else []
    return PostmortemRecord(
        incident=incident, as_of=now,
        alerts=tuple(AlertLine(a.id, a.title, a.severity, a.source, a.service, a.count, a.first_seen, a.last_seen,
                               a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by) for a in alerts),
        operations=tuple(_operation(o) for o in operations),
    )


def _operation(row: PendingAction) -> OperationLine:
    plan = PLAN.validate_json(row.plan)
    return OperationLine(id=row.id, kind=row.kind, subject=row.subject, target=plan.target, current=plan.current,
                         desired=plan.desired, state=row.state, requested_by=row.requested_by,
                         requested_at=row.requested_at, decided_by=row.decided_by, decided_at=row.decided_at,
                         approvers=tuple(a.user_id for a in row.approvals), finished_at=row.finished_at,
                         outcome=row.outcome)


def record_written(*, session: Session, incident_id: int, user: str, at: datetime, where: str) -> None:
    """A `postmortem` line on the timeline; reminders still waiting to be sent are dropped."""
    add_event(session=session, incident_id=incident_id, at=at, kind=POSTMORTEM, actor=user, note=where)
    prefix = REMINDER_KEY.format(incident=incident_id)
    session.execute(update(Notice).where(Notice.key.startswith(prefix, autoescape=True), Notice.done_at.is_(None))
                    .values(done_at=at, last_error="not sent: the postmortem was written")
                    .execution_options(synchronize_session=False))


class Postmortems:
    """The postmortem service for commands: each call one transaction, at the clock's time."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions, self.clock = sessions, clock

    def gather(self, incident_id: int) -> PostmortemRecord:
        with session_scope(self.sessions) as session:
            return gather(session=session, incident_id=incident_id, now=self.clock())

    def written(self, *, incident_id: int, user: str, where: str) -> IncidentRecord:
        with session_scope(self.sessions) as session:
            record_written(session=session, incident_id=incident_id, user=user, at=self.clock(), where=where)
            return get(session=session, incident_id=incident_id)


# --- the timeline -------------------------------------------------------------------------------------------


def timeline(pm: PostmortemRecord) -> list[Entry]:
    """Every line, in time order (at the same instant: the incident's own lines, then alerts, then operations)."""
    finished = {(o.kind, o.finished_at) for o in pm.operations if o.finished_at is not None}
    entries = [e for e in (_event(ev) for ev in pm.incident.timeline
                           if ev.kind not in _FROM_ALERT_ROWS and ev.kind != POSTMORTEM
                           and (ev.kind, ev.at) not in finished) if e is not None]
    for a in pm.alerts:
        entries += _alert(a)
    for o in pm.operations:
        entries += _ops(o)
    return sorted(entries, key=lambda e: e.at)


def _event(ev: TimelineEvent) -> Entry | None:
    note = _plain(ev.note) if ev.note else None
    if ev.kind == "opened":
        return Entry(ev.at, "Incident opened", ev.actor, note, "opened the incident")
    if ev.kind == "acknowledged":
        return Entry(ev.at, "Incident acknowledged", ev.actor, note, "acknowledged the incident")
    if ev.kind == "resolved":
        return Entry(ev.at, "Incident resolved", ev.actor, note, "resolved the incident")
    if ev.kind == NOTE:
        return Entry(ev.at, "Note", ev.actor, note, "added a note")
    if ev.kind == "escalated":
        return Entry(ev.at, "Escalated", ev.actor, note, "escalated")
    return Entry(ev.at, ev.kind[:1].upper() + ev.kind[1:], ev.actor, note, ev.kind)


def _alert(a: AlertLine) -> list[Entry]:
    repeats = f"; fired {a.count} times, last at {a.last_seen:%H:%M:%S}" if a.count > 1 else ""
    out = [Entry(a.first_seen, f"Alert #{a.id} fired", BOT,
                 f"{a.severity} {_plain(a.title)} (from {a.source}{repeats})")]
    if a.acknowledged_at is not None and (a.acknowledged_at, a.acknowledged_by) != (a.resolved_at, a.resolved_by):
        out.append(Entry(a.acknowledged_at, f"Alert #{a.id} acknowledged", a.acknowledged_by, None,
                         f"acknowledged alert #{a.id}"))
    if a.resolved_at is not None:
        out.append(Entry(a.resolved_at, f"Alert #{a.id} resolved", a.resolved_by, None, f"resolved alert #{a.id}"))
    return out


def _ops(o: OperationLine) -> list[Entry]:
    noun = f"{_NOUN.get(o.kind, o.kind.capitalize())} of {o.subject}"
    change = f"{o.target}: {o.current} → {o.desired}"
    out = [Entry(o.requested_at, f"{noun} requested", o.requested_by, change, f"asked for the {noun.lower()}")]
    if o.decided_at is not None:
        if o.state == ActionState.CANCELLED:
            out.append(Entry(o.decided_at, f"{noun} cancelled", o.decided_by, None, f"cancelled the {noun.lower()}"))
        else:
            people = o.approvers or ((o.decided_by,) if o.decided_by else ())
            out += [Entry(o.decided_at, f"{noun} confirmed", person, None, f"confirmed the {noun.lower()}")
                    for person in people]
    if o.finished_at is not None and o.state != ActionState.CANCELLED:
        how = {ActionState.SUCCEEDED: "succeeded", ActionState.FAILED: "failed",
               ActionState.INTERRUPTED: "was interrupted"}.get(ActionState(o.state), o.state)
        out.append(Entry(o.finished_at, f"{noun} {how}", BOT, _plain(o.outcome) if o.outcome else None))
    elif o.decided_at is None and o.state == ActionState.AWAITING:
        out[0] = Entry(o.requested_at, f"{noun} requested (never confirmed)", o.requested_by, change,
                       f"asked for the {noun.lower()}")
    return out


# --- the document -------------------------------------------------------------------------------------------


def filename(r: IncidentRecord) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", r.title.lower()).strip("-")[:SLUG_MAX].strip("-")
    return f"incident-{r.id}-{slug}.md" if slug else f"incident-{r.id}.md"


def render(pm: PostmortemRecord, *, written_by: str, zone: str = "UTC") -> Postmortem:
    r, tz = pm.incident, ZoneInfo(zone)
    entries = timeline(pm)
    mtta, mttr = time_to_acknowledge(r.opened_at, r.acknowledged_at), time_to_resolve(r.opened_at, r.resolved_at)
    mtta_text = duration(mtta) if mtta is not None else "—"
    mttr_text = duration(mttr) if mttr is not None else "—"

    def when(t: datetime) -> str:
        return f"{t.astimezone(tz):%Y-%m-%d %H:%M:%S} {zone}"

    draft = "" if r.resolved_at else " It is still open: this is a draft, and the times below are as of now."
    lines = [
        f"# Postmortem: incident #{r.id} — {_plain(r.title)}",
        "",
        f"_Written by {_who(written_by)} at {when(pm.as_of)} from opsbot's record of the incident.{draft} "
        "Sections marked TODO are for people to fill in._",
        "",
        "## Summary",
        "",
        _summary(pm, mtta_text, mttr_text),
        "",
        "## Impact",
        "",
        "| | |",
        "|---|---|",
        f"| Severity | {r.severity} |",
        f"| Status | {r.status} |",
        f"| Started | {when(r.opened_at)} (incident opened) |",
        f"| Ended | {when(r.resolved_at) + ' (resolved)' if r.resolved_at else 'not yet: still ' + r.status} |",
        f"| Duration | {duration((r.resolved_at or pm.as_of) - r.opened_at)}{'' if r.resolved_at else ' so far'} |",
        f"| Services affected | {', '.join(f'`{s}`' for s in _services(pm)) or 'none recorded'} |",
        f"| Alerts | {_alerts_count(pm.alerts)} |",
        f"| Operations | {_count(len(pm.operations), 'operation')} on the service while it was open |",
        "",
        "## Response times",
        "",
        "| Measure | Time | From → to |",
        "|---|---|---|",
        f"| MTTA (time to acknowledge) | {mtta_text} | opened → acknowledged |",
        f"| MTTR (time to resolve) | {mttr_text} | opened → resolved |",
        "",
        "As the weekly incident report defines them: for one incident, the mean is its own time.",
        "",
        "## Timeline",
        "",
        *(_entry_lines(e, when) for e in entries),
        "",
        "## Bot actions",
        "",
        *_operations_lines(pm.operations, when),
        "",
        "## Who did what",
        "",
        *_who_did_what(entries),
        "",
        "## Root cause",
        "",
        "TODO",
        "",
        "## What went well",
        "",
        "TODO",
        "",
        "## What went wrong",
        "",
        "TODO",
        "",
        "## Action items",
        "",
        "- [ ] TODO",
        "",
    ]
    return Postmortem(filename=filename(r), markdown="\n".join(lines), entries=len(entries), mtta=mtta_text,
                      mttr=mttr_text)


def _summary(pm: PostmortemRecord, mtta: str, mttr: str) -> str:
    r = pm.incident
    service = f" on `{r.service}`" if r.service else ""
    opener = "automatically by an alert" if r.opened_by == BOT else f"by {_who(r.opened_by)}"
    parts = [f"{r.severity} incident #{r.id}, “{_plain(r.title)}”{service}, was opened {opener}"]
    if pm.alerts:
        parts[0] += f" ({_alerts_count(pm.alerts)})"
    if r.acknowledged_at is not None:
        parts.append(f"acknowledged by {_who(r.acknowledged_by)} after {mtta}")
    if r.resolved_at is not None:
        parts.append(f"and resolved by {_who(r.resolved_by)} after {mttr}")
    text = ", ".join(parts) + "."
    done = [o for o in pm.operations if o.finished_at is not None and o.state != ActionState.CANCELLED]
    if done:
        text += " Operations: " + "; ".join(f"{o.kind} of `{o.subject}` {o.state}" for o in done) + "."
    resolved = next((e for e in reversed(r.timeline) if e.kind == "resolved"), None)
    if resolved is not None and resolved.note:
        text += "\n\nResolution note: " + _plain(resolved.note)
    return text


def _services(pm: PostmortemRecord) -> list[str]:
    found = [pm.incident.service, *(a.service for a in pm.alerts), *(o.subject for o in pm.operations)]
    return list(dict.fromkeys(s for s in found if s))


def _alerts_count(alerts: Iterable[AlertLine]) -> str:
    items = list(alerts)
    if not items:
        return "no alerts"
    firings = sum(a.count for a in items)
    return f"{_count(len(items), 'alert')}, fired {_count(firings, 'time')}"


def _entry_lines(e: Entry, when: Callable[[datetime], str]) -> str:
    who = f" — {_who(e.who)}" if e.who else ""
    head = f"- `{when(e.at)}` **{e.what}**{who}"
    if not e.detail:
        return head
    detail = e.detail.strip().splitlines() or [""]
    if len(detail) == 1 and len(detail[0]) <= 200:
        return f"{head}: {detail[0]}"
    return head + "\n" + "\n".join(f"  > {line}" if line else "  >" for line in detail)


def _operations_lines(ops: tuple[OperationLine, ...], when: Callable[[datetime], str]) -> list[str]:
    if not ops:
        return ["No operations were run on the service while the incident was open."]
    lines = ["| Operation | Change | Asked by | Confirmed by | Outcome |", "|---|---|---|---|---|"]
    for o in ops:
        confirmed = ", ".join(_who(p) for p in (o.approvers or ((o.decided_by,) if o.decided_by else ()))) \
            if o.state != ActionState.CANCELLED else f"cancelled by {_who(o.decided_by)}"
        outcome = f"{o.state}: {_plain(o.outcome)}" if o.outcome else o.state
        lines.append(f"| {o.kind} of `{o.subject}` at {when(o.requested_at)} | "
                     f"{_cell(o.target)}: {_cell(o.current)} → {_cell(o.desired)} | {_who(o.requested_by)} | "
                     f"{confirmed or '—'} | {_cell(outcome)} |")
    return lines


def _who_did_what(entries: list[Entry]) -> list[str]:
    done: dict[str, dict[str, int]] = {}
    for e in entries:
        if e.who and e.did:
            acts = done.setdefault(e.who, {})
            acts[e.did] = acts.get(e.did, 0) + 1
    if not done:
        return ["Nobody is recorded as doing anything."]
    return [f"- {_who(who)}: " + ", ".join(what if n == 1 else f"{what} ({n}×)" for what, n in acts.items())
            for who, acts in done.items()]


def _who(user: str | None) -> str:
    if not user:
        return "someone"
    return "opsbot (automatically)" if user == BOT else f"@{user}"


def _plain(text: str) -> str:
    """Text as typed in Slack, which escapes <, > and & in what it sends."""
    for escaped, char in _UNSLACK:
        text = text.replace(escaped, char)
    return text


def _cell(text: str) -> str:
    return _plain(text).replace("|", "\\|").replace("\n", " ")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
