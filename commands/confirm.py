"""/ops confirm|cancel <id> — what the Confirm and Cancel buttons of a pending action do (also typeable)."""
from __future__ import annotations

from bot.errors import UsageError
from bot.reply import Reply
from commands import operations
from commands.base import CommandContext, Subcommand


def _action_id(args: list[str]) -> str:
    if len(args) != 1 or not args[0].isalnum() or len(args[0]) > 32:
        raise UsageError("Give the id shown on the confirmation message.")
    return args[0].lower()


def run_confirm(ctx: CommandContext, args: list[str]) -> Reply:
    return operations.confirm(ctx, _action_id(args))


def run_cancel(ctx: CommandContext, args: list[str]) -> Reply:
    return operations.cancel(ctx, _action_id(args))


CONFIRM = Subcommand(name="confirm", usage="/ops confirm <id>", summary="Confirm a pending operation.",
                     run=run_confirm, slow=True, deferred_permission=True, hidden=True)
CANCEL = Subcommand(name="cancel", usage="/ops cancel <id>", summary="Cancel a pending operation.",
                    run=run_cancel, deferred_permission=True, hidden=True)
