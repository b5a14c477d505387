"""/ops restart — restart a service in place (same release), after confirmation: a Deployment's pods as
`kubectl rollout restart` replaces them, or a Beanstalk environment's app servers."""
from __future__ import annotations

from bot.errors import UsageError
from bot.reply import Reply, escape
from commands import operations
from commands.base import CommandContext, Subcommand, parse_flags
from integrations.base import NotPossibleError

USAGE = "/ops restart <service> [--dry-run]"


def run(ctx: CommandContext, args: list[str]) -> Reply:
    words, flags = parse_flags(args, flags=("--dry-run",))
    if not words:
        raise UsageError("Which service?")
    if len(words) > 1:
        raise UsageError("Name one service; only `--dry-run` may follow it.")
    name, targets = words[0], ctx.rt.integrations.restart_targets
    service = ctx.rt.config.service(name.lower())
    if name.lower() not in targets and service is not None and service.lambda_ is not None:
        raise NotPossibleError(
            f"`{escape(service.name)}` runs on Lambda: Lambda functions have no servers to restart; every cold start "
            f"loads the function afresh. To undo a bad release: `/ops rollback {escape(service.name)}`.")
    return operations.offer(ctx, "restart", name, targets=targets, what="service", dry="--dry-run" in flags,
                            make_plan=lambda target: target.plan_restart())


COMMAND = Subcommand(
    name="restart",
    usage=USAGE,
    summary="Restart a service's pods or app servers, same release (asks for confirmation).",
    run=run,
    slow=True,
    deferred_permission=True,
)
