"""/ops incident — open, list, acknowledge and resolve incidents; the incident card is rendered from its row."""
from __future__ import annotations

from datetime import datetime

from bot import incidents
from bot.clock import humanize
from bot.errors import UsageError
from bot.incidents import SEVERITIES, TITLE_MAX, IncidentRecord
from bot.reply import Actions, Button, Context, Reply, Section, Style, code, escape
from bot.runtime import Runtime
from bot.storage.db import session_scope
from commands.base import CommandContext, Subcommand

USAGE = {
    "open": "/ops incident open P1|P2|P3|P4 <title> [--service <name>]",
    "list": "/ops incident list [open|all]",
    "ack": "/ops incident ack <id>",
    "resolve": "/ops incident resolve <id> [note]",
}
SEVERITY_ICON = {"P1": ":rotating_light:", "P2": ":red_circle:", "P3": ":large_orange_circle:", "P4": ":white_circle:"}
STATUS_ICON = {"open": ":red_circle:", "acknowledged": ":large_yellow_circle:", "resolved": ":large_green_circle:"}
NOTE_MAX = 500


def run(ctx: CommandContext, args: list[str]) -> Reply:
    if not args:
        raise UsageError("Tell me what to do with incidents.", usage=" | ".join(USAGE.values()))
    verb, rest = args[0].lower(), args[1:]
    handler = {"open": _open, "list": _list, "ack": _ack, "acknowledge": _ack, "resolve": _resolve}.get(verb)
    if handler is None:
        raise UsageError(f"`/ops incident` has no action {code(args[0], 30)}.", usage=" | ".join(USAGE.values()))
    return handler(ctx, rest)


def _open(ctx: CommandContext, args: list[str]) -> Reply:
    usage = USAGE["open"]
    if not args or args[0].upper() not in SEVERITIES:
        raise UsageError("Start with a severity: P1 (critical) … P4 (low).", usage=usage)
    severity, words, service = args[0].upper(), args[1:], None
    if "--service" in words:
        i = words.index("--service")
        if i + 1 >= len(words):
            raise UsageError("`--service` needs a service name.", usage=usage)
        service = words[i + 1].lower()
        if ctx.rt.config.service(service) is None:
            known = ", ".join(f"`{s.name}`" for s in ctx.rt.config.services) or "none configured"
            raise UsageError(f"I don't know the service {code(service, 40)}. Known: {known}.", usage=usage)
        words = words[:i] + words[i + 2:]
    title = " ".join(words).strip()
    if not title:
        raise UsageError("Give the incident a title.", usage=usage)
    if len(title) > TITLE_MAX:
        raise UsageError(f"The title is {len(title)} characters; keep it under {TITLE_MAX}.", usage=usage)
    with session_scope(ctx.rt.sessions) as session:
        record = incidents.open_incident(session=session, title=title, severity=severity,
                                         opened_by=ctx.user_id, at=ctx.rt.clock(), service=service)
    return card(record, now=ctx.rt.clock())


def _list(ctx: CommandContext, args: list[str]) -> Reply:
    which = args[0].lower() if args else "open"
    if len(args) > 1 or which not in ("open", "all"):
        raise UsageError("List `open` incidents (the default) or `all`.", usage=USAGE["list"])
    with session_scope(ctx.rt.sessions) as session:
        rows = incidents.list_incidents(session=session, include_resolved=which == "all")
    now = ctx.rt.clock()
    if not rows:
        text = "No open incidents. :tada:" if which == "open" else "No incidents recorded yet."
        return Reply(text=text, blocks=(Section(text),))
    lines = [_summary_line(r, now) for r in rows]
    title = f"*{'Open' if which == 'open' else 'Recent'} incidents ({len(rows)})*"
    return Reply(text=title + "\n" + "\n".join(lines), blocks=(Section(title), Section("\n".join(lines))))


def _ack(ctx: CommandContext, args: list[str]) -> Reply:
    incident_id = _parse_id(args, USAGE["ack"], max_args=1)
    with session_scope(ctx.rt.sessions) as session:
        record = incidents.acknowledge(session=session, incident_id=incident_id, user=ctx.user_id, at=ctx.rt.clock())
    took = humanize(record.acknowledged_at - record.opened_at) if record.acknowledged_at else "?"
    text = f":eyes: <@{ctx.user_id}> acknowledged incident #{record.id} ({took} after it opened)."
    return Reply(text=text, blocks=(Section(text),), ephemeral=False, refresh=("incident", str(record.id)))


def _resolve(ctx: CommandContext, args: list[str]) -> Reply:
    incident_id = _parse_id(args[:1], USAGE["resolve"], max_args=1)
    note = " ".join(args[1:]).strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise UsageError(f"The note is {len(note)} characters; keep it under {NOTE_MAX}.", usage=USAGE["resolve"])
    with session_scope(ctx.rt.sessions) as session:
        record = incidents.resolve(session=session, incident_id=incident_id, user=ctx.user_id,
                                   at=ctx.rt.clock(), note=note)
    took = humanize(record.resolved_at - record.opened_at) if record.resolved_at else "?"
    text = f":white_check_mark: <@{ctx.user_id}> resolved incident #{record.id} after {took}."
    if note:
        text += f" Note: {escape(note)}"
    return Reply(text=text, blocks=(Section(text),), ephemeral=False, refresh=("incident", str(record.id)))


def _parse_id(args: list[str], usage: str, *, max_args: int) -> int:
    if not args:
        raise UsageError("Which incident? Give its number.", usage=usage)
    if len(args) > max_args:
        raise UsageError("Too many arguments.", usage=usage)
    raw = args[0].lstrip("#")
    if not raw.isdigit() or len(raw) > 9:
        raise UsageError(f"{code(args[0], 20)} is not an incident number.", usage=usage)
    return int(raw)


def _summary_line(r: IncidentRecord, now: datetime) -> str:
    age = humanize(now - r.opened_at)
    service = f" · {escape(r.service)}" if r.service else ""
    who = {"open": f"opened by <@{r.opened_by}>", "acknowledged": f"ack'd by <@{r.acknowledged_by}>",
           "resolved": f"resolved by <@{r.resolved_by}>"}[r.status]
    return (f"{STATUS_ICON[r.status]} *#{r.id}* {r.severity} {escape(r.title)}{service} — "
            f"{r.status}, {age} ago, {who}")


def card(r: IncidentRecord, *, now: datetime) -> Reply:
    """The incident's live message: state, who did what and when, and the buttons that still make sense."""
    head = f"{SEVERITY_ICON[r.severity]} *{r.severity} · Incident #{r.id}: {escape(r.title)}*"
    fields = [f"*Status*\n{STATUS_ICON[r.status]} {r.status}",
              f"*Service*\n{escape(r.service) if r.service else '—'}",
              f"*Opened*\n<@{r.opened_by}> at {r.opened_at:%Y-%m-%d %H:%M} UTC"]
    if r.acknowledged_at:
        took = humanize(r.acknowledged_at - r.opened_at)
        fields.append(f"*Acknowledged*\n<@{r.acknowledged_by}> after {took}")
    if r.resolved_at:
        fields.append(f"*Resolved*\n<@{r.resolved_by}> after {humanize(r.resolved_at - r.opened_at)}")
    blocks: list[Section | Actions | Context] = [Section(head, fields=tuple(fields))]
    buttons = []
    if r.status == "open":
        buttons.append(Button("Acknowledge", "incident.ack", str(r.id), Style.PRIMARY))
    if r.status != "resolved":
        buttons.append(Button("Resolve", "incident.resolve", str(r.id)))
    if buttons:
        blocks.append(Actions(tuple(buttons)))
    last = r.timeline[-1] if r.timeline else None
    if last is not None:
        note = f": {escape(last.note)}" if last.note and last.kind != "opened" else ""
        verbs = {"open": "ack|resolve", "acknowledged": "resolve"}.get(r.status)
        hint = f" · `/ops incident {verbs} {r.id}`" if verbs else ""
        blocks.append(Context(f"Last: {last.kind} by <@{last.actor}> {humanize(now - last.at)} ago{note}{hint}"))
    text = f"{r.severity} incident #{r.id}: {r.title} — {r.status}"
    return Reply(text=text, blocks=tuple(blocks), ephemeral=False, card=("incident", str(r.id)))


def load_card(rt: Runtime, key: str) -> Reply:
    """Re-render an incident's card from its row (after a change made by a command or a button)."""
    with session_scope(rt.sessions) as session:
        record = incidents.get(session=session, incident_id=int(key))
    return card(record, now=rt.clock())


def card_location(rt: Runtime, key: str) -> tuple[str, str] | None:
    with session_scope(rt.sessions) as session:
        record = incidents.get(session=session, incident_id=int(key))
    return (record.slack_channel, record.slack_ts) if record.slack_channel and record.slack_ts else None


def attach_card(rt: Runtime, key: str, channel: str, ts: str) -> None:
    with session_scope(rt.sessions) as session:
        incidents.attach_message(session=session, incident_id=int(key), channel=channel, ts=ts)


COMMAND = Subcommand(
    name="incident",
    usage="/ops incident open|list|ack|resolve …",
    summary="Open P1–P4 incidents, list them, acknowledge and resolve them.",
    run=run,
    more_usage=tuple(USAGE.values()),
)
