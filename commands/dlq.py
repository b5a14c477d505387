"""/ops dlq — look at what waits in a dead-letter queue, and move it back to its source queue after confirmation.

`peek` is read-only: it shows up to 10 messages (bodies masked and trimmed, receive counts, ages) and leaves them
in the queue. `redrive` is an operation like rollback: a plan, a Confirm card, run once by the operation runner,
progress in the card's thread, the count on the card. `permissions.commands.dlq` says who may peek and ask for a
redrive; `permissions.commands.redrive` says who may confirm one.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from bot.clock import humanize
from bot.errors import NotFoundError, UsageError
from bot.masking import Masker
from bot.operations.card import HOW
from bot.reply import Context, Reply, Section, code, escape, truncate
from commands import operations
from commands.base import CommandContext, Subcommand, did_you_mean, masker
from integrations.base import QueueMessage, QueuePeek, RedriveTarget

PEEK_DEFAULT, PEEK_MAX = 5, 10
REDRIVE_MAX = 100_000
BODY_CHARS = 500            # of a message body shown (after masking); 10 of them stay inside Block Kit's limits
VERBS = ("peek", "redrive")
NUMBER = re.compile(r"[0-9]{1,7}")      # ASCII digits only: str.isdigit() also takes "²", which int() refuses
USAGE = "/ops dlq <queue> peek [N] | redrive [--max N] [--dry-run]"


def run(ctx: CommandContext, args: list[str]) -> Reply:
    targets = ctx.rt.integrations.dlq_targets
    if not args:
        raise UsageError(f"Which dead-letter queue? {_listing(list(targets))}")
    name = args[0].lower()
    if name in VERBS and name not in targets:
        raise UsageError(f"Name the queue first: `/ops dlq <queue> {name}`. {_listing(list(targets))}")
    target = targets.get(name)
    if target is None:
        raise _unknown(ctx, args[0], list(targets))
    if len(args) == 1:
        raise UsageError(f"What should I do with {code(name, 40)}? `peek [N]` shows its messages, "
                         "`redrive [--max N]` moves them back to their source queue.")
    verb = args[1].lower()
    if verb == "peek":
        return _peek(ctx, name, target, args[2:])
    if verb == "redrive":
        most, dry = _redrive_options(args[2:])
        return operations.offer(ctx, "redrive", name, targets=targets, what="queue", dry=dry,
                                make_plan=lambda queue: queue.plan_redrive(max_messages=most))
    raise UsageError(f"I can't {code(args[1], 20)} a queue.{did_you_mean(verb, list(VERBS))} "
                     "I can `peek` and `redrive`.")


def _peek(ctx: CommandContext, name: str, target: RedriveTarget, args: list[str]) -> Reply:
    if len(args) > 1:
        raise UsageError(f"`peek` takes one number at most: how many messages to show (1–{PEEK_MAX}).")
    limit = _number(args[0], high=PEEK_MAX, what="a number of messages to show") if args else PEEK_DEFAULT
    peek = target.peek(limit=limit)
    return render_peek(name, peek, now=ctx.rt.clock(), mask=masker(ctx.rt))


def render_peek(name: str, peek: QueuePeek, *, now: datetime, mask: Masker) -> Reply:
    flight = f", {peek.in_flight} in flight" if peek.in_flight else ""
    if not peek.messages:
        head = f":white_check_mark: *{escape(name)}* has no messages waiting{flight}."
        return Reply(text=head, blocks=(Section(head),), detail=f"0 of {peek.waiting} shown")
    head = f":inbox_tray: *{escape(name)}*: {peek.waiting} waiting{flight} · showing {len(peek.messages)}"
    blocks: list[Section | Context] = [Section(head)]
    blocks += [Section(_message_text(i, m, now=now, mask=mask)) for i, m in enumerate(peek.messages, 1)]
    blocks.append(Context(f"Peeking leaves the messages in the queue; each peek adds 1 to their receive count. "
                          f"`/ops dlq {escape(name)} redrive` moves them back to their source queue."))
    return Reply(text=f"{name}: {peek.waiting} waiting, showing {len(peek.messages)}", blocks=tuple(blocks),
                 detail=f"{len(peek.messages)} of {peek.waiting} shown")


def _message_text(position: int, m: QueueMessage, *, now: datetime, mask: Masker) -> str:
    age = f"sent {humanize(now - m.sent_at)} ago" if m.sent_at else "sent at an unknown time"
    times = "once" if m.receive_count == 1 else f"{m.receive_count} times"
    body = escape(truncate(mask(m.body), BODY_CHARS)) if m.body else "(empty body)"
    return f"*{position}.* received {times} · {age} · id `{escape(m.message_id[:36])}`\n```{body}```"


def _redrive_options(args: list[str]) -> tuple[int | None, bool]:
    most: int | None = None
    dry = False
    words: Iterator[str] = iter(args)
    for word in words:
        flag, _, value = word.lower().partition("=")
        if flag == "--dry-run" and not value:
            dry = True
        elif flag == "--max":
            value = value or next(words, "")
            if not value:
                raise UsageError("`--max` needs a number of messages, such as `--max 100`.")
            most = _number(value, high=REDRIVE_MAX, what="a number of messages to move")
        elif word.startswith("--"):
            raise UsageError(f"Unknown option {code(word, 30)}.")
        else:
            raise UsageError(f"After `redrive` only `--max N` and `--dry-run` may follow, not {code(word, 30)}.")
    return most, dry


def _number(word: str, *, high: int, what: str) -> int:
    count = int(word) if NUMBER.fullmatch(word) else 0
    if not 1 <= count <= high:
        raise UsageError(f"{code(word, 20)} is not {what} (1–{high:,}).")
    return count


def _listing(known: list[str]) -> str:
    if not known:
        return "None is configured: add `sqs_dlq:` to a service, or list queues under `queues:` in ops.yaml."
    return "Queues: " + ", ".join(f"`{k}`" for k in sorted(known)[:20]) + "."


def _unknown(ctx: CommandContext, name: str, known: list[str]) -> NotFoundError:
    if ctx.rt.config.service(name.lower()) or ctx.rt.config.database(name.lower()):
        return NotFoundError(f"{code(name, 40)} has no dead-letter queue configured ({HOW['redrive']}). "
                             f"{_listing(known)}")
    return NotFoundError(f"I don't know the queue {code(name, 40)}.{did_you_mean(name, known)} {_listing(known)}")


COMMAND = Subcommand(
    name="dlq",
    usage=USAGE,
    summary="Look at a dead-letter queue's messages, or move them back to their source queue (asks for confirmation).",
    run=run,
    slow=True,
    more_usage=("/ops dlq <queue> peek [N]", "/ops dlq <queue> redrive [--max N] [--dry-run]"),
)
