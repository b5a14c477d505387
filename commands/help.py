"""/ops help — every subcommand with its usage, generated from the command table (handed in, so this module
does not import the table that lists it)."""
from __future__ import annotations

from collections.abc import Sequence

from bot.errors import AuditOutcome
from bot.reply import Context, Reply, Section, code, text_reply
from commands.base import Subcommand, did_you_mean

USAGE = "/ops help [command]"
SUMMARY = "List every command, or explain one."


def overview(subcommands: Sequence[Subcommand]) -> Reply:
    lines = [f"`{c.usage}` — {c.summary}" if not c.more_usage else
             f"{c.summary}\n" + "\n".join(f"      `{u}`" for u in c.more_usage) for c in subcommands]
    return Reply(
        text="opsbot commands: " + ", ".join(c.name for c in subcommands),
        blocks=(
            Section("*opsbot* — what I can do:"),
            Section("\n".join(lines)),
            Context("`/ops help <command>` for details on one command."),
        ),
    )


def unknown(word: str, subcommands: Sequence[Subcommand]) -> Reply:
    """The answer to a word that names no subcommand: a did-you-mean, then the overview."""
    names = [c.name for c in subcommands]
    hint = did_you_mean(word, names, prefix="/ops ")
    head = f"I don't know the command {code(word, 40)}.{hint}"
    return Reply(text=head, blocks=(text_reply(head).blocks[0], *overview(subcommands).blocks),
                 outcome=AuditOutcome.UNKNOWN_COMMAND)


def answer(args: list[str], subcommands: Sequence[Subcommand]) -> Reply:
    """`/ops help` or `/ops help <command>`, over the visible subcommands."""
    if not args:
        return overview(subcommands)
    command = next((c for c in subcommands if c.name == args[0].lower()), None)
    if command is None:
        return unknown(args[0], subcommands)
    usages = command.more_usage or (command.usage,)
    detail = f"{command.summary}\n" + "\n".join(f"`{u}`" for u in usages)
    return Reply(text=detail, blocks=(Section(detail),))
