"""/ops scale — set a Kubernetes deployment's replica count, after confirmation."""
from __future__ import annotations

import re

from bot.errors import UsageError
from bot.reply import Reply, code
from commands import operations
from commands.base import CommandContext, Subcommand, parse_flags

MAX_REPLICAS = 1000
COUNT = re.compile(r"[0-9]{1,4}")          # ASCII digits only: str.isdigit() also takes "²", which int() refuses


def run(ctx: CommandContext, args: list[str]) -> Reply:
    words, flags = parse_flags(args, flags=("--dry-run",))
    if len(words) != 2:
        raise UsageError("Name a service and a replica count.")
    count = int(words[1]) if COUNT.fullmatch(words[1]) else MAX_REPLICAS + 1
    if count > MAX_REPLICAS:
        raise UsageError(f"{code(words[1], 20)} is not a replica count (0–{MAX_REPLICAS}).")
    return operations.offer(ctx, "scale", words[0], targets=ctx.rt.integrations.scale_targets, what="service",
                            dry="--dry-run" in flags, make_plan=lambda target: target.plan_scale(replicas=count))


COMMAND = Subcommand(
    name="scale",
    usage="/ops scale <service> <replicas> [--dry-run]",
    summary="Scale a Kubernetes deployment (asks for confirmation).",
    run=run,
    slow=True,
    deferred_permission=True,
)
