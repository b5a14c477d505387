"""What the bot says in an incident's own channel: the pinned card and one line per timeline event (pure)."""
from __future__ import annotations

import re
from datetime import datetime

from bot.incidents import IncidentRecord
from bot.incidents import card as incident_card
from bot.incidents.channels import ChannelRecord, State, TimelineEntry
from bot.reply import (
    ActionId,
    Actions,
    Block,
    Button,
    Card,
    CardKind,
    CardRef,
    Context,
    Reply,
    Style,
    escape,
    truncate,
)

NOTE_MAX = 2500                 # a mirrored line stays well inside a section's 3000 characters
_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
ICONS = {"acknowledged": ":eyes:", "resolved": ":white_check_mark:", "escalated": ":rotating_light:",
         "alert": ":bell:", "alert resolved": ":large_green_circle:", "note": ":memo:", "severity": ":arrow_up_down:"}
OPERATION_ICON = ":gear:"       # rollback, restart, scale, backup, run…: an operation's outcome
OPERATIONS = ("rollback", "restart", "scale", "backup", "run", "redrive")


def ref(incident_id: int) -> CardRef:
    return CardRef(CardKind.INCIDENT_CHANNEL, str(incident_id))


def is_user(actor: str) -> bool:
    """Whether `actor` is a Slack user ID (the bot's own actions are recorded as "opsbot")."""
    return bool(_USER.match(actor))


def who(actor: str) -> str:
    """A Slack user as a mention; the bot (or anyone else without a user ID) by name."""
    return f"<@{actor}>" if is_user(actor) else escape(actor)


def render(r: IncidentRecord, room: ChannelRecord, *, now: datetime) -> Reply:
    """The incident's card as in its origin channel, with buttons for this channel: Acknowledge and Resolve
    while they make sense, then "Archive #…" once it is resolved."""
    base = incident_card.render(r, now=now)
    blocks: list[Block] = [b for b in base.blocks if not isinstance(b, Actions)]
    buttons = _buttons(r, room)
    if buttons:
        blocks.insert(1, Actions(buttons))
    if room.state in (State.ARCHIVING, State.ARCHIVED):
        blocks.append(Context(f":file_cabinet: Archived by {who(room.archive_requested_by or '?')}."))
    elif r.status == "resolved" and room.state == State.READY:
        blocks.append(Context(f"Resolved: archive #{room.name} when you are done here "
                              f"(`/ops incident archive {r.id}`)."))
    return Reply(text=base.text, blocks=tuple(blocks), ephemeral=False, card=ref(r.id))


def _buttons(r: IncidentRecord, room: ChannelRecord) -> tuple[Button, ...]:
    value = str(r.id)
    if r.status == "open":
        return (Button("Acknowledge", ActionId.CHANNEL_ACK, value, Style.PRIMARY),
                Button("Resolve", ActionId.CHANNEL_RESOLVE, value))
    if r.status == "acknowledged":
        return (Button("Resolve", ActionId.CHANNEL_RESOLVE, value),)
    if room.state == State.READY:
        return (Button(truncate(f"Archive #{room.name}", 75), ActionId.CHANNEL_ARCHIVE, value),)
    return ()


def card(r: IncidentRecord, room: ChannelRecord, *, now: datetime) -> Card:
    return Card(ref(r.id), render(r, room, now=now))


def timeline_line(entry: TimelineEntry) -> str:
    """One timeline event as a line in the channel: `:eyes: 03:12 UTC acknowledged by @alice`."""
    icon = ICONS.get(entry.kind, OPERATION_ICON if entry.kind in OPERATIONS else ":small_blue_diamond:")
    note = f": {escape(truncate(entry.note, NOTE_MAX))}" if entry.note else ""
    return f"{icon} `{entry.at:%H:%M} UTC` *{escape(entry.kind)}* by {who(entry.actor)}{note}"
