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
from bot.reply import CardRef, Reply, code, text_reply
from commands import alerts, backup, checklist, confirm, incident, oncall, report, rollback, scale, status
from commands import help as help_
from commands.base import CommandContext, Subcommand, split_args
from integrations.base import AccessDeniedError, AdapterError, NotPossibleError, TargetNotFoundError, UnreachableError

log = logging.getLogger(__name__)
_ADAPTER_OUTCOME = {UnreachableError: "unreachable", AccessDeniedError: "access_denied",
                    TargetNotFoundError: "not_found", NotPossibleError: "not_possible"}

SUBCOMMANDS: tuple[Subcommand, ...] = (
    help_.COMMAND, status.COMMAND, incident.COMMAND, alerts.ACK, alerts.COMMAND, oncall.COMMAND,
    rollback.COMMAND, backup.COMMAND, scale.COMMAND, checklist.COMMAND, report.COMMAND, confirm.CONFIRM,
    confirm.CANCEL,
)
_BY_NAME = {c.name: c for c in SUBCOMMANDS}

# Buttons carry (action_id, value); each maps to the command line it stands for, so a click is
# permission-checked and audited exactly like the typed command, and to the card it sits on.
BUTTONS: dict[str, tuple[str, str]] = {
    "incident.ack": ("incident ack {value}", "incident"),
    "incident.resolve": ("incident resolve {value}", "incident"),
    "alert.ack": ("ack {value}", "alert"),
    "alert.resolve": ("alert resolve {value}", "alert"),
    "alert.escalate": ("alert escalate {value}", "alert"),
    "alert.silence": ("alert silence {value} 1h", "alert"),
    "checklist.done": ("checklist done {value}", "checklist"),
    "ops.confirm": ("confirm {value}", "action"),
    "ops.cancel": ("cancel {value}", "action"),
}


def visible() -> tuple[Subcommand, ...]:
    return tuple(c for c in SUBCOMMANDS if not c.hidden)


def find(name: str) -> Subcommand | None:
    return _BY_NAME.get(name.lower())


def is_slow(text: str) -> bool:
    """Whether the command line names a subcommand whose answer takes a while (Slack acks first)."""
    first = text.split(maxsplit=1)[0] if text.strip() else ""
    command = find(first)
    return command is not None and command.slow


def button_command(action_id: str, value: str) -> tuple[str, CardRef] | None:
    """The command line a button stands for, and the card it sits on."""
    entry = BUTTONS.get(action_id)
    if entry is None:
        return None
    template, card_kind = entry
    # A value may add `.<part>` after its card's key (a checklist step: `<run>.<step>`); the card is the key's.
    return template.format(value=value), (card_kind, value.partition(".")[0])


def dispatch(ctx: CommandContext, text: str) -> Reply:
    """Run one command line (without the leading `/ops`). Raises OpsError for refusals."""
    words = split_args(text)
    if not words:
        return help_.overview(visible())
    command = find(words[0])
    if command is None:
        return unknown(words[0])
    if not command.deferred_permission:
        permissions.check(ctx.rt.config.permissions, ctx.user_id, command.name)
    try:
        return command.run(ctx, words[1:])
    except UsageError as exc:
        if exc.usage is None:
            exc.usage = command.usage
        raise


def unknown(word: str) -> Reply:
    names = [c.name for c in SUBCOMMANDS if not c.hidden]
    close = difflib.get_close_matches(word.lower(), names, n=1, cutoff=0.5)
    hint = f" Did you mean `/ops {close[0]}`?" if close else ""
    overview = help_.overview(visible())
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
        except AdapterError as exc:
            reply = text_reply(f":warning: {exc}", outcome=_ADAPTER_OUTCOME.get(type(exc), "adapter_error"))
        except Exception:
            ref = new_ref()
            log.exception("command failed: ref=%s user=%s command=%.200r", ref, ctx.user_id, text)
            reply = text_reply(
                f":warning: Something went wrong (ref `{ref}`). The error is in the bot's log under that ref; "
                "nothing was changed unless a later message says so.", outcome="error",
            ).with_outcome("error", ref)
        entry.outcome, entry.error_ref, entry.detail = reply.outcome, reply.error_ref, reply.detail
    return reply


def _usage_reply(exc: UsageError) -> Reply:
    usage = f"\nUsage: `{exc.usage}`" if exc.usage else ""
    return text_reply(f"{exc}{usage}", outcome="usage")
