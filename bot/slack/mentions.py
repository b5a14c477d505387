"""Mentions of the bot (`app_mention` events): a note for an incident's timeline, taken from a conversation.

    (in a thread under an incident's card)  @opsbot the primary is back, replication caught up
    (in the incident's own channel)         @opsbot the primary is back, replication caught up
    (anywhere)                              @opsbot note #12 the primary is back, replication caught up

The note runs as `/ops incident note <id> <text>` through commands.execute, for the person who wrote it, so it
is role-checked and audited (source `mention`) like the typed command. The answer goes in the mention's thread,
posted once per event (a retried delivery is also dropped before it runs: middleware.first_delivery).
"""
from __future__ import annotations

import logging
import re
from typing import Any

import commands
from bot.reply import CardKind, Reply, text_reply
from bot.runtime import Runtime
from bot.slack.board import SlackBoard
from commands.base import CommandContext

log = logging.getLogger(__name__)
SOURCE = "mention"
_MENTION = re.compile(r"\s*<@([A-Z0-9]+)(?:\|[^>]*)?>[\s,:]*")
_NOTE_WORD = re.compile(r"note\b[\s:]*", re.I)
_INCIDENT = re.compile(r"(?:incident\s+)?#(\d{1,10})\b[\s:]*", re.I)
HOW = ("To add a note to an incident's timeline, mention me in a reply under the incident's card or in its own "
       "channel, or write `@opsbot note #<incident> <text>` anywhere.")


def note_request(text: str, *, bot_user: str | None) -> tuple[int | None, str]:
    """What a mention asks: the incident it names (`#12`), if any, and the note's text (without the mention of
    the bot in front, and without a leading `note`)."""
    rest = text
    while (m := _MENTION.match(rest)) is not None and (bot_user is None or m.group(1) == bot_user):
        rest = rest[m.end():]
    if (m := _NOTE_WORD.match(rest)) is not None:
        rest = rest[m.end():]
    incident = None
    if (m := _INCIDENT.match(rest)) is not None:
        incident, rest = int(m.group(1)), rest[m.end():]
    return incident, rest.strip()


def handle(rt: Runtime, board: SlackBoard, body: dict[str, Any], bot_user: str | None) -> None:
    event = body.get("event") or {}
    user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    if not user or not channel or not ts:
        return                                   # another bot's message: nobody to note it for
    thread_ts = event.get("thread_ts")
    named, note = note_request(str(event.get("text") or ""), bot_user=bot_user)
    under = board.card_at(channel, thread_ts) if thread_ts else None
    incident = named if named is not None else (
        int(under.key) if under is not None and under.kind is CardKind.INCIDENT and under.key.isdigit() else None)
    if incident is None:                         # anywhere in an incident's own channel: that incident
        incident = rt.incident_channels.incident_of(str(channel))
    key = f"mention:{body.get('event_id') or f'{channel}:{ts}'}"
    answer_in = thread_ts or ts
    if incident is None:
        board.reply_at(channel, answer_in, text_reply(f":information_source: {HOW}", ephemeral=False), key=key)
        return
    if not note:
        board.reply_at(channel, answer_in, text_reply(
            f":information_source: Write the note after my name: `@opsbot the primary is back`. {HOW}",
            ephemeral=False), key=key)
        return
    ctx = CommandContext(rt=rt, user_id=str(user), channel_id=str(channel))
    reply = commands.execute(ctx, f"incident note {incident} {note}", source=SOURCE)
    answer: Reply = reply if reply.outcome != "ok" else text_reply(
        f":memo: Added to incident #{incident}'s timeline.", ephemeral=False)
    board.reply_at(channel, answer_in, answer, key=key)
    for card in reply.redraw:
        board.redraw(card)
