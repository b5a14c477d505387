"""/ops help — every subcommand with its usage, generated from the command table."""
from __future__ import annotations

from collections.abc import Sequence

from bot.reply import Context, Reply, Section
from commands.base import CommandContext, Subcommand


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


def run(ctx: CommandContext, args: list[str]) -> Reply:
    from commands import find, unknown, visible

    if not args:
        return overview(visible())
    command = find(args[0])
    if command is None:
        return unknown(args[0])
    usages = command.more_usage or (command.usage,)
    detail = f"{command.summary}\n" + "\n".join(f"`{u}`" for u in usages)
    return Reply(text=detail, blocks=(Section(detail),))


COMMAND = Subcommand(
    name="help",
    usage="/ops help [command]",
    summary="List every command, or explain one.",
    run=run,
)
