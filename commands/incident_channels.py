"""The incident-channel verbs of /ops incident: `open … --channel`, `channel <id>` and `archive <id>`.

Commands only record what is wanted (bot.incidents.channels); the Slack side creates, fills and archives the
channel in the background and says in the incident's thread when it is ready or why it could not be made."""
from __future__ import annotations

from bot.errors import UsageError
from bot.incidents import card as incident_card
from bot.reply import Reply, Section, code
from commands.base import CommandContext, parse_id

USAGE = {
    "channel": "/ops incident channel <id>",
    "archive": "/ops incident archive <id>",
}


def open_with_channel(ctx: CommandContext, *, title: str, severity: str, service: str | None) -> Reply:
    """Open the incident and ask for its channel in one transaction; the card says the channel is coming."""
    settings = ctx.rt.config.incidents.channels
    record, room = ctx.rt.incident_channels.open(title=title, severity=severity, opened_by=ctx.user_id,
                                                 service=service, prefix=settings.prefix,
                                                 origin_channel=ctx.channel_id)
    reply = incident_card.render(record, now=ctx.rt.clock())
    return reply.with_note(f":speech_balloon: Making #{room.name} for it: I'll say here when it is ready.")


def run_channel(ctx: CommandContext, args: list[str]) -> Reply:
    incident_id = _id(args, USAGE["channel"])
    room, asked = ctx.rt.incident_channels.request(incident_id=incident_id, prefix=ctx.rt.config.incidents.channels
                                                   .prefix, requested_by=ctx.user_id, origin_channel=ctx.channel_id)
    if not asked:
        where = f"<#{room.channel_id}>" if room.channel_id else f"#{room.name} (being made)"
        text = f"Incident #{incident_id} already has a channel: {where}."
        return Reply(text=text, blocks=(Section(text),))
    text = f":speech_balloon: Making #{room.name} for incident #{incident_id}: I'll say here when it is ready."
    return Reply(text=text, blocks=(Section(text),), ephemeral=False)


def run_archive(ctx: CommandContext, args: list[str]) -> Reply:
    incident_id = _id(args, USAGE["archive"])
    room = ctx.rt.incident_channels.archive(incident_id=incident_id, user=ctx.user_id)
    text = f":file_cabinet: <@{ctx.user_id}> is archiving #{room.name} (incident #{incident_id})."
    return Reply(text=text, blocks=(Section(text),), ephemeral=False, detail=f"archive #{room.name}")


def _id(args: list[str], usage: str) -> int:
    if len(args) != 1:
        raise UsageError("Which incident? Give its number." if not args else "Too many arguments.", usage=usage)
    incident_id = parse_id(args[0])
    if incident_id is None:
        raise UsageError(f"{code(args[0], 20)} is not an incident number.", usage=usage)
    return incident_id
