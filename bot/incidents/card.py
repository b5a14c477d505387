"""The incident's card and list line, rendered from its record (pure: same record and time, same message)."""
from __future__ import annotations

from datetime import datetime

from bot.clock import humanize
from bot.incidents import IncidentRecord, postmortem_due, postmortem_written
from bot.reply import (
    ActionId,
    Actions,
    Button,
    Card,
    CardKind,
    CardRef,
    Context,
    Reply,
    Section,
    Style,
    escape,
    truncate,
)

SEVERITY_ICON = {"P1": ":rotating_light:", "P2": ":red_circle:", "P3": ":large_orange_circle:", "P4": ":white_circle:"}
STATUS_ICON = {"open": ":red_circle:", "acknowledged": ":large_yellow_circle:", "resolved": ":large_green_circle:"}
NOTE_SHOWN = 300            # of the last timeline line's note (a note may be 3,000 characters)


def ref(incident_id: int) -> CardRef:
    return CardRef(CardKind.INCIDENT, str(incident_id))


def render(r: IncidentRecord, *, now: datetime) -> Reply:
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
        buttons.append(Button("Acknowledge", ActionId.INCIDENT_ACK, str(r.id), Style.PRIMARY))
    if r.status != "resolved":
        buttons.append(Button("Resolve", ActionId.INCIDENT_RESOLVE, str(r.id)))
    due = postmortem_due(r)
    if due:
        buttons.append(Button("Write postmortem", ActionId.INCIDENT_POSTMORTEM, str(r.id), Style.PRIMARY))
    if buttons:
        blocks.append(Actions(tuple(buttons)))
    last = r.timeline[-1] if r.timeline else None
    if last is not None:
        note = f": {truncate(escape(last.note), NOTE_SHOWN)}" if last.note and last.kind != "opened" else ""
        verbs = {"open": "ack|resolve", "acknowledged": "resolve"}.get(r.status)
        hint = f" · `/ops incident {verbs} {r.id}`" if verbs else ""
        blocks.append(Context(f"Last: {last.kind} by <@{last.actor}> {humanize(now - last.at)} ago{note}{hint}"))
    written = postmortem_written(r)
    if due:
        blocks.append(Context(f":memo: A {r.severity} needs a postmortem: press *Write postmortem*, or type "
                              f"`/ops incident postmortem {r.id}`."))
    elif written is not None:
        blocks.append(Context(f":page_facing_up: Postmortem written by <@{written.actor}> "
                              f"{humanize(now - written.at)} ago."))
    text = f"{r.severity} incident #{r.id}: {r.title} — {r.status}"
    return Reply(text=text, blocks=tuple(blocks), ephemeral=False, card=ref(r.id))


def card(r: IncidentRecord, *, now: datetime) -> Card:
    return Card(ref(r.id), render(r, now=now))


def summary_line(r: IncidentRecord, now: datetime) -> str:
    age = humanize(now - r.opened_at)
    service = f" · {escape(r.service)}" if r.service else ""
    who = {"open": f"opened by <@{r.opened_by}>", "acknowledged": f"ack'd by <@{r.acknowledged_by}>",
           "resolved": f"resolved by <@{r.resolved_by}>"}[r.status]
    return (f"{STATUS_ICON[r.status]} *#{r.id}* {r.severity} {escape(r.title)}{service} — "
            f"{r.status}, {age} ago, {who}")
