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
    database = words[0].lower()
    target = ctx.rt.integrations.backup_targets.get(database)
    if target is None:
        raise operations.unknown_target(ctx.rt, "backup", words[0], what="database")
    plan = target.plan_backup()
    if "--dry-run" in flags:
        return operations.dry_run(plan, subject=database)
    return operations.propose(ctx, plan, subject=database)


COMMAND = Subcommand(
    name="backup",
    usage="/ops backup <database> [--dry-run]",
    summary="Back up a database now and watch it finish (asks for confirmation).",
    run=run,
    slow=True,
    deferred_permission=True,
)
