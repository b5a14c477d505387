"""Every /ops subcommand, in the order `/ops help` lists them. Add a command by adding one line to SUBCOMMANDS.

`execute()` is the single entry used by Slack and the console alike: it parses, checks permissions, runs the
subcommand, turns refusals into short answers and bugs into a reference id, and writes the audit row in
every case. Buttons map to the command line they stand for (BUTTONS), so a click is permission-checked and
audited exactly like the typed command.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from bot import audit, permissions
from bot.errors import AuditOutcome, OpsError, UsageError, new_ref
from bot.reply import ActionId, CardKind, CardRef, Reply, text_reply
from commands import (
    alerts,
    backup,
    checklist,
    confirm,
    dlq,
    incident,
    logs,
    maintenance,
    oncall,
    report,
    restart,
    rollback,
    run,
    scale,
    status,
)
from commands import help as help_
from commands.base import CommandContext, Subcommand, split_args
from integrations.base import (
    AccessDeniedError,
    AdapterError,
    NotPossibleError,
    TargetNotFoundError,
    ThrottledError,
    UnreachableError,
)

log = logging.getLogger(__name__)
_ADAPTER_OUTCOME = {UnreachableError: AuditOutcome.UNREACHABLE, ThrottledError: AuditOutcome.THROTTLED,
                    AccessDeniedError: AuditOutcome.ACCESS_DENIED, TargetNotFoundError: AuditOutcome.NOT_FOUND,
                    NotPossibleError: AuditOutcome.NOT_POSSIBLE}


def _help(ctx: CommandContext, args: list[str]) -> Reply:
    return help_.answer(args, visible())


HELP = Subcommand(name="help", usage=help_.USAGE, summary=help_.SUMMARY, run=_help)
SUBCOMMANDS: tuple[Subcommand, ...] = (
    HELP, status.COMMAND, logs.COMMAND, incident.COMMAND, alerts.ACK, alerts.COMMAND, oncall.COMMAND,
    rollback.COMMAND, backup.COMMAND, scale.COMMAND, restart.COMMAND, dlq.COMMAND, run.COMMAND, checklist.COMMAND,
    report.COMMAND, maintenance.COMMAND, confirm.CONFIRM, confirm.CANCEL,
)
_BY_NAME = {c.name: c for c in SUBCOMMANDS}


@dataclass(frozen=True, slots=True)
class ButtonCommand:
    template: str                # the command line, with {value}
    card: CardKind               # the kind of card the button sits on


BUTTONS: dict[ActionId, ButtonCommand] = {
    ActionId.INCIDENT_ACK: ButtonCommand("incident ack {value}", CardKind.INCIDENT),
    ActionId.INCIDENT_RESOLVE: ButtonCommand("incident resolve {value}", CardKind.INCIDENT),
    ActionId.INCIDENT_POSTMORTEM: ButtonCommand("incident postmortem {value}", CardKind.INCIDENT),
    ActionId.CHANNEL_ACK: ButtonCommand("incident ack {value}", CardKind.INCIDENT_CHANNEL),
    ActionId.CHANNEL_RESOLVE: ButtonCommand("incident resolve {value}", CardKind.INCIDENT_CHANNEL),
    ActionId.CHANNEL_ARCHIVE: ButtonCommand("incident archive {value}", CardKind.INCIDENT_CHANNEL),
    ActionId.ALERT_ACK: ButtonCommand("ack {value}", CardKind.ALERT),
    ActionId.ALERT_RESOLVE: ButtonCommand("alert resolve {value}", CardKind.ALERT),
    ActionId.ALERT_ESCALATE: ButtonCommand("alert escalate {value}", CardKind.ALERT),
    ActionId.ALERT_SILENCE: ButtonCommand("alert silence {value} 1h", CardKind.ALERT),
    ActionId.CHECKLIST_DONE: ButtonCommand("checklist done {value}", CardKind.CHECKLIST),
    ActionId.CONFIRM: ButtonCommand("confirm {value}", CardKind.ACTION),
    ActionId.CANCEL: ButtonCommand("cancel {value}", CardKind.ACTION),
}


def enable_demo() -> None:
    """Add `/ops demo` (commands.demo): only `opsbot console --demo` (what `make demo` runs) calls this."""
    global SUBCOMMANDS
    from commands import demo

    if "demo" not in _BY_NAME:
        SUBCOMMANDS = (*SUBCOMMANDS, demo.COMMAND)
        _BY_NAME["demo"] = demo.COMMAND


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
    if action_id not in BUTTONS.keys():
        return None
    entry = BUTTONS[ActionId(action_id)]
    # A value may add `.<part>` after its card's key (a checklist step: `<run>.<step>`); the card is the key's.
    return entry.template.format(value=value), CardRef(entry.card, value.partition(".")[0])


def dispatch(ctx: CommandContext, text: str) -> Reply:
    """Run one command line (without the leading `/ops`). Raises OpsError for refusals."""
    first = text.split(maxsplit=1)
    named = find(first[0]) if first else None
    words = named.split(text) if named is not None and named.split is not None else split_args(text)
    if not words:
        return help_.overview(visible())
    command = find(words[0])
    if command is None:
        return help_.unknown(words[0], visible())
    if not command.deferred_permission:
        permissions.check(ctx.rt.config.permissions, ctx.user_id, command.name)
    try:
        return command.run(ctx, words[1:])
    except UsageError as exc:
        if exc.usage is None:
            exc.usage = command.usage
        raise


def execute(ctx: CommandContext, text: str, *, source: str) -> Reply:
    """Run `text` for `ctx.user_id` and always return a Reply; writes exactly one audit row."""
    rt = ctx.rt
    started = time.monotonic()
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
            said = str(exc)
            later = ("" if said.endswith((".", "!", "?")) else ".") + " It may work if you try again in a minute." \
                if exc.temporary and "try again" not in said else ""
            reply = text_reply(f":warning: {said}{later}",
                               outcome=_ADAPTER_OUTCOME.get(type(exc), AuditOutcome.ADAPTER_ERROR))
        except Exception:
            ref = new_ref()
            log.exception("command failed: ref=%s user=%s command=%.200r", ref, ctx.user_id, text)
            reply = text_reply(
                f":warning: Something went wrong (ref `{ref}`). The error is in the bot's log under that ref; "
                "nothing was changed unless a later message says so.",
            ).with_outcome(AuditOutcome.ERROR, ref)
        entry.outcome, entry.error_ref, entry.detail = reply.outcome, reply.error_ref, reply.detail
    rt.metrics.command_seconds.labels(entry.subcommand or "unknown", reply.outcome.value).observe(
        time.monotonic() - started)
    return reply


def _usage_reply(exc: UsageError) -> Reply:
    usage = f"\nUsage: `{exc.usage}`" if exc.usage else ""
    return text_reply(f"{exc}{usage}", outcome=AuditOutcome.USAGE)
