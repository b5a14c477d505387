"""The postmortem as a Markdown document, rendered from an incident's record (bot.incidents.postmortem): pure,
so the same record gives the same document.

The timeline merges three sources in time order: the incident's own lines, the alerts' rows (fired,
acknowledged, resolved: they say more than the incident's "alert" lines, which are left out) and the
operations' rows (asked, confirmed or cancelled, how it ended: the incident's line for the outcome is left
out). MTTA and MTTR are the terms the weekly report averages (`time_to_acknowledge`, `time_to_resolve`), so
for one incident the numbers agree with it.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.clock import duration
from bot.incidents import NOTE, POSTMORTEM, IncidentRecord, TimelineEvent, time_to_acknowledge, time_to_resolve
from bot.incidents.postmortem import AlertLine, OperationLine, PostmortemRecord
from bot.storage.models import ActionState

BOT = "opsbot"                    # the actor of what the bot did on its own (bot.alerts.pipeline.BOT_ACTOR)
SLUG_MAX = 40
# Timeline kinds another source describes better: the alert's own row (fired, acknowledged, resolved).
_FROM_ALERT_ROWS = ("alert", "alert resolved")
_NOUN = {"rollback": "Rollback", "backup": "Backup", "scale": "Scale", "restart": "Restart", "redrive": "Redrive",
         "action": "Action"}
_UNSLACK = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))
TODO = ("## Root cause", "", "TODO", "", "## What went well", "", "TODO", "", "## What went wrong", "", "TODO", "",
        "## Action items", "", "- [ ] TODO", "")
When = Callable[[datetime], str]


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
        f"# Postmortem: incident #{r.id} — {_plain(r.title)}", "",
        f"_Written by {_who(written_by)} at {when(pm.as_of)} from opsbot's record of the incident.{draft} "
        "Sections marked TODO are for people to fill in._", "",
        "## Summary", "", _summary(pm, mtta_text, mttr_text), "",
        "## Impact", "", *_impact(pm, when), "",
        "## Response times", "",
        "| Measure | Time | From → to |",
        "|---|---|---|",
        f"| MTTA (time to acknowledge) | {mtta_text} | opened → acknowledged |",
        f"| MTTR (time to resolve) | {mttr_text} | opened → resolved |", "",
        "As the weekly incident report defines them: for one incident, the mean is its own time.", "",
        "## Timeline", "", *(_entry_lines(e, when) for e in entries), "",
        "## Bot actions", "", *_operations_lines(pm.operations, when), "",
        "## Who did what", "", *_who_did_what(entries), "",
        *TODO,
    ]
    return Postmortem(filename=filename(r), markdown="\n".join(lines), entries=len(entries), mtta=mtta_text,
                      mttr=mttr_text)


def _impact(pm: PostmortemRecord, when: When) -> list[str]:
    r = pm.incident
    ended = f"{when(r.resolved_at)} (resolved)" if r.resolved_at else f"not yet: still {r.status}"
    lasted = duration((r.resolved_at or pm.as_of) - r.opened_at) + ("" if r.resolved_at else " so far")
    return [
        "| | |",
        "|---|---|",
        f"| Severity | {r.severity} |",
        f"| Status | {r.status} |",
        f"| Started | {when(r.opened_at)} (incident opened) |",
        f"| Ended | {ended} |",
        f"| Duration | {lasted} |",
        f"| Services affected | {', '.join(f'`{s}`' for s in _services(pm)) or 'none recorded'} |",
        f"| Alerts | {_alerts_count(pm.alerts)} |",
        f"| Operations | {_count(len(pm.operations), 'operation')} on the service while it was open |",
    ]


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


def _entry_lines(e: Entry, when: When) -> str:
    who = f" — {_who(e.who)}" if e.who else ""
    head = f"- `{when(e.at)}` **{e.what}**{who}"
    if not e.detail:
        return head
    detail = e.detail.strip().splitlines() or [""]
    if len(detail) == 1 and len(detail[0]) <= 200:
        return f"{head}: {detail[0]}"
    return head + "\n" + "\n".join(f"  > {line}" if line else "  >" for line in detail)


def _operations_lines(ops: tuple[OperationLine, ...], when: When) -> list[str]:
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
