"""/ops incident — open, list, acknowledge and resolve incidents, add notes to their timelines and write their
postmortems (commands.postmortem); each change redraws the incident's card. The incident's own channel
(`--channel`, `channel`, `archive`) is commands.incident_channels."""
from __future__ import annotations

from bot.clock import humanize
from bot.errors import UsageError
from bot.incidents import NOTE_MAX, POSTMORTEM_DUE, SEVERITIES, TITLE_MAX
from bot.incidents import card as incident_card
from bot.reply import Reply, Section, code, escape, truncate
from commands import incident_channels, postmortem
from commands.base import CommandContext, Subcommand, parse_id, split_args, split_then_text

USAGE = {
    "open": "/ops incident open P1|P2|P3|P4 <title> [--service <name>] [--channel]",
    "list": "/ops incident list [open|all]",
    "ack": "/ops incident ack <id>",
    "resolve": "/ops incident resolve <id> [note]",
    "note": postmortem.NOTE_USAGE,
    "postmortem": postmortem.USAGE,
    **incident_channels.USAGE,
}
NOTE_SHOWN = 500            # of a resolve note, in the answer (the timeline keeps all of it)
FREE_TEXT = ("note", "resolve")       # verbs whose text after the incident number is kept as typed


def run(ctx: CommandContext, args: list[str]) -> Reply:
    if not args:
        raise UsageError("Tell me what to do with incidents.", usage=" | ".join(USAGE.values()))
    verb, rest = args[0].lower(), args[1:]
    handler = {"open": _open, "list": _list, "ack": _ack, "acknowledge": _ack, "resolve": _resolve,
               "note": postmortem.note, "postmortem": postmortem.write,
               "channel": incident_channels.run_channel, "archive": incident_channels.run_archive}.get(verb)
    if handler is None:
        raise UsageError(f"`/ops incident` has no action {code(args[0], 30)}.", usage=" | ".join(USAGE.values()))
    return handler(ctx, rest)


def _open(ctx: CommandContext, args: list[str]) -> Reply:
    usage = USAGE["open"]
    if not args or args[0].upper() not in SEVERITIES:
        raise UsageError("Start with a severity: P1 (critical) … P4 (low).", usage=usage)
    severity, words, service = args[0].upper(), args[1:], None
    with_channel = "--channel" in words
    words = [w for w in words if w != "--channel"]
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
    if with_channel or severity in ctx.rt.config.incidents.channels.auto:
        return incident_channels.open_with_channel(ctx, title=title, severity=severity, service=service)
    record = ctx.rt.incidents.open(title=title, severity=severity, opened_by=ctx.user_id, service=service)
    return incident_card.render(record, now=ctx.rt.clock())


def _list(ctx: CommandContext, args: list[str]) -> Reply:
    which = args[0].lower() if args else "open"
    if len(args) > 1 or which not in ("open", "all"):
        raise UsageError("List `open` incidents (the default) or `all`.", usage=USAGE["list"])
    rows = ctx.rt.incidents.recent(include_resolved=which == "all")
    now = ctx.rt.clock()
    if not rows:
        text = "No open incidents. :tada:" if which == "open" else "No incidents recorded yet."
        return Reply(text=text, blocks=(Section(text),))
    lines = [incident_card.summary_line(r, now) for r in rows]
    title = f"*{'Open' if which == 'open' else 'Recent'} incidents ({len(rows)})*"
    return Reply(text=title + "\n" + "\n".join(lines), blocks=(Section(title), Section("\n".join(lines))))


def _ack(ctx: CommandContext, args: list[str]) -> Reply:
    incident_id = _parse_id(args, USAGE["ack"], max_args=1)
    record = ctx.rt.incidents.acknowledge(incident_id=incident_id, user=ctx.user_id)
    took = humanize(record.acknowledged_at - record.opened_at) if record.acknowledged_at else "?"
    text = f":eyes: <@{ctx.user_id}> acknowledged incident #{record.id} ({took} after it opened)."
    return Reply(text=text, blocks=(Section(text),), ephemeral=False,
                 redraw=(incident_card.card(record, now=ctx.rt.clock()),))


def _resolve(ctx: CommandContext, args: list[str]) -> Reply:
    incident_id = _parse_id(args[:1], USAGE["resolve"], max_args=1)
    note = " ".join(args[1:]).strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise UsageError(f"The note is {len(note):,} characters; keep it under {NOTE_MAX:,}.",
                         usage=USAGE["resolve"])
    record = ctx.rt.incidents.resolve(incident_id=incident_id, user=ctx.user_id, note=note)
    took = humanize(record.resolved_at - record.opened_at) if record.resolved_at else "?"
    text = f":white_check_mark: <@{ctx.user_id}> resolved incident #{record.id} after {took}."
    if note:
        text += f" Note: {truncate(escape(note), NOTE_SHOWN)}"
    if record.severity in POSTMORTEM_DUE:
        text += (f"\n:memo: A {record.severity} needs a postmortem: press *Write postmortem* on the card, or type "
                 f"`/ops incident postmortem {record.id}`.")
    return Reply(text=text, blocks=(Section(text),), ephemeral=False,
                 redraw=(incident_card.card(record, now=ctx.rt.clock()),))


def _parse_id(args: list[str], usage: str, *, max_args: int) -> int:
    if not args:
        raise UsageError("Which incident? Give its number.", usage=usage)
    if len(args) > max_args:
        raise UsageError("Too many arguments.", usage=usage)
    incident_id = parse_id(args[0])
    if incident_id is None:
        raise UsageError(f"{code(args[0], 20)} is not an incident number.", usage=usage)
    return incident_id


def split(text: str) -> list[str]:
    """The words of the line; but the text of a note or a resolve note is kept as typed (apostrophes, quotes and
    line breaks are part of what someone wrote)."""
    head = text.split(maxsplit=2)
    if len(head) >= 2 and head[1].lower() in FREE_TEXT:
        return split_then_text(text, words=3)
    return split_args(text)


COMMAND = Subcommand(
    name="incident",
    usage="/ops incident open|list|ack|resolve|note|postmortem|channel|archive …",
    summary="Open P1–P4 incidents, list, acknowledge and resolve them, add notes, write postmortems, give one its "
            "own channel.",
    run=run,
    more_usage=tuple(USAGE.values()),
    split=split,
)
