"""Every /ops subcommand, in the order `/ops help` lists them. Add a command by adding one line to SUBCOMMANDS.

`execute()` is the single entry used by Slack and the console alike: it parses, checks permissions,
runs the subcommand, turns refusals into short answers and bugs into a reference id, and writes the
audit row in every case.
"""
from __future__ import annotations

import difflib
import logging

from bot import audit, permissions
from bot.errors import OpsError, UsageError, new_ref
from bot.reply import Reply, code, text_reply
from commands import help as help_
from commands import incident, status
from commands.base import CommandContext, Subcommand, split_args

log = logging.getLogger(__name__)

SUBCOMMANDS: tuple[Subcommand, ...] = (help_.COMMAND, status.COMMAND, incident.COMMAND)
_BY_NAME = {c.name: c for c in SUBCOMMANDS}

# Buttons carry (action_id, value); each maps to the command line it stands for, so a click is
# permission-checked and audited exactly like the typed command.
BUTTONS = {
    "incident.ack": "incident ack {value}",
    "incident.resolve": "incident resolve {value}",
}


def find(name: str) -> Subcommand | None:
    return _BY_NAME.get(name.lower())


def is_slow(text: str) -> bool:
    """Whether the command line names a subcommand whose answer takes a while (Slack acks first)."""
    first = text.split(maxsplit=1)[0] if text.strip() else ""
    command = find(first)
    return command is not None and command.slow


def button_command(action_id: str, value: str) -> str | None:
    template = BUTTONS.get(action_id)
    return template.format(value=value) if template is not None else None


def dispatch(ctx: CommandContext, text: str) -> Reply:
    """Run one command line (without the leading `/ops`). Raises OpsError for refusals."""
    words = split_args(text)
    if not words:
        return help_.overview(SUBCOMMANDS)
    command = find(words[0])
    if command is None:
        return unknown(words[0])
    permissions.check(ctx.rt.config.permissions, ctx.user_id, command.name)
    try:
        return command.run(ctx, words[1:])
    except UsageError as exc:
        if exc.usage is None:
            exc.usage = command.usage
        raise


def unknown(word: str) -> Reply:
    names = [c.name for c in SUBCOMMANDS]
    close = difflib.get_close_matches(word.lower(), names, n=1, cutoff=0.5)
    hint = f" Did you mean `/ops {close[0]}`?" if close else ""
    overview = help_.overview(SUBCOMMANDS)
    head = f"I don't know the command {code(word, 40)}.{hint}"
    return Reply(text=head, blocks=(text_reply(head).blocks[0], *overview.blocks), outcome="unknown_command")


def execute(ctx: CommandContext, text: str, *, source: str) -> Reply:
    """Run `text` for `ctx.user_id` and always return a Reply; writes exactly one audit row."""
    rt = ctx.rt
    with audit.attempt(rt.sessions, rt.clock, user_id=ctx.user_id, channel_id=ctx.channel_id,
                       source=source, command=text) as entry:
        first = text.split(maxsplit=1)[0].lower() if text.strip() else "help"
        entry.subcommand = first[:32] if find(first) else None
        try:
            reply = dispatch(ctx, text)
        except UsageError as exc:
            reply = _usage_reply(exc)
        except OpsError as exc:
            reply = text_reply(str(exc), outcome=exc.outcome)
        except Exception:
            ref = new_ref()
            log.exception("command failed: ref=%s user=%s command=%.200r", ref, ctx.user_id, text)
            reply = text_reply(
                f":warning: Something went wrong (ref `{ref}`). The error is in the bot's log under that ref; "
                "nothing was changed unless a later message says so.", outcome="error",
            ).with_outcome("error", ref)
        entry.outcome, entry.error_ref = reply.outcome, reply.error_ref
    return reply


def _usage_reply(exc: UsageError) -> Reply:
    usage = f"\nUsage: `{exc.usage}`" if exc.usage else ""
    return text_reply(f"{exc}{usage}", outcome="usage")
