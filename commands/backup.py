"""/ops backup — take a database backup now (RDS snapshot or a Job from a CronJob), after confirmation."""
from __future__ import annotations

from bot.errors import UsageError
from bot.reply import Reply
from commands import operations
from commands.base import CommandContext, Subcommand, parse_flags


def run(ctx: CommandContext, args: list[str]) -> Reply:
    words, flags = parse_flags(args, flags=("--dry-run",))
    if len(words) != 1:
        raise UsageError("Name exactly one database.")
    return operations.offer(ctx, "backup", words[0], targets=ctx.rt.integrations.backup_targets, what="database",
                            dry="--dry-run" in flags, make_plan=lambda target: target.plan_backup())


COMMAND = Subcommand(
    name="backup",
    usage="/ops backup <database> [--dry-run]",
    summary="Back up a database now and watch it finish (asks for confirmation).",
    run=run,
    slow=True,
    deferred_permission=True,
)
