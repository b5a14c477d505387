"""/ops rollback — return a service to its previous release, after confirmation."""
from __future__ import annotations

from bot.errors import UsageError
from bot.reply import Reply
from commands import operations
from commands.base import CommandContext, Subcommand, parse_flags

USAGE = "/ops rollback <service> [to <revision|version>] [--dry-run]"


def run(ctx: CommandContext, args: list[str]) -> Reply:
    words, flags = parse_flags(args, flags=("--dry-run",))
    if not words:
        raise UsageError("Which service?")
    rest, to = words[1:], None
    if rest:
        if len(rest) != 2 or rest[0].lower() != "to":
            raise UsageError("After the service, only `to <revision|version>` may follow.")
        to = rest[1]
    return operations.offer(ctx, "rollback", words[0], targets=ctx.rt.integrations.rollback_targets, what="service",
                            dry="--dry-run" in flags, make_plan=lambda target: target.plan_rollback(to=to))


COMMAND = Subcommand(
    name="rollback",
    usage=USAGE,
    summary="Roll a service back to its previous release (asks for confirmation).",
    run=run,
    slow=True,
    deferred_permission=True,
)
