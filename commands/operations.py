"""The shared flow of destructive commands (rollback, backup, scale): plan, offer, confirm, cancel.

`/ops rollback|backup|scale` computes a typed plan (no side effects) and either shows it (`--dry-run`) or stores
it as a pending operation whose card carries Confirm/Cancel. Confirm hands it to the operation runner
(bot.operations), which applies it once and reports on the card, in its thread and in the audit log. A target
with `approvals: 2` (or 3) needs that many different people to confirm: each Confirm before the last one only
records an approval (bot.operations.approvals).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TypeVar

from bot.errors import AuditOutcome, NotFoundError
from bot.operations import approvals as four_eyes
from bot.operations.card import HOW, VERB, change_text, confirmers, dry_run
from bot.reply import Reply, Section, code, escape
from bot.runtime import Runtime
from commands.base import CommandContext, did_you_mean
from integrations.base import Plan

T = TypeVar("T")


def offer(ctx: CommandContext, kind: str, name: str, *, targets: Mapping[str, T], what: str, dry: bool,
          make_plan: Callable[[T], Plan], approvals: int | None = None) -> Reply:
    """Plan `kind` on the target called `name`; show the plan (`--dry-run`) or offer it for confirmation by
    `approvals` different people (by default what the service or database called `name` sets)."""
    subject = name.lower()
    target = targets.get(subject)
    if target is None:
        raise unknown_target(ctx.rt, kind, name, targets=targets, what=what)
    plan = make_plan(target)
    if dry:
        return dry_run(plan, subject=subject)
    needed = configured_approvals(ctx.rt, subject) if approvals is None else approvals
    action = ctx.rt.operations.propose(plan, subject=subject, requested_by=ctx.user_id, channel_id=ctx.channel_id,
                                       approvals=needed)
    confirm_card = ctx.rt.operations.card(action).reply       # in the channel, as the action's card
    return replace(confirm_card, outcome=AuditOutcome.PROPOSED, detail=f"{plan.current} -> {plan.desired}")


def configured_approvals(rt: Runtime, name: str) -> int:
    """How many people must confirm an operation on the service or database `name` (its `approvals`)."""
    target = rt.config.service(name) or rt.config.database(name)
    return target.approvals if target is not None else 1


def confirm(ctx: CommandContext, action_id: str) -> Reply:
    action = ctx.rt.operations.confirm(action_id, user=ctx.user_id)
    plan = action.plan
    if action.approvals_missing:            # an approval recorded; more are needed before it runs
        needs = four_eyes.still_needed(action, confirmers=confirmers(ctx.rt.config.permissions, action.kind,
                                                                        action.plan.roles))
        text = (f":ballot_box_with_check: <@{ctx.user_id}> approved the {action.kind} of *{escape(action.subject)}*"
                f" ({len(action.approvals)} of {action.approvals_required}); it {needs} before it runs.")
        return Reply(text=text, blocks=(Section(text),), ephemeral=False, redraw=(ctx.rt.operations.card(action),),
                     outcome=AuditOutcome.APPROVED,
                     detail=f"approval {len(action.approvals)} of {action.approvals_required}")
    text = (f":arrow_forward: Confirmed: {VERB[action.kind].lower()} {change_text(plan)}. "
            "Progress follows in the card's thread.")
    return Reply(text=text, blocks=(Section(text),), redraw=(ctx.rt.operations.card(action),),
                 outcome=AuditOutcome.CONFIRMED, detail=f"{plan.current} -> {plan.desired}")


def cancel(ctx: CommandContext, action_id: str) -> Reply:
    action = ctx.rt.operations.cancel(action_id, user=ctx.user_id)
    text = f":no_entry_sign: <@{ctx.user_id}> cancelled the {action.kind} of *{escape(action.subject)}*."
    return Reply(text=text, blocks=(Section(text),), ephemeral=False, redraw=(ctx.rt.operations.card(action),),
                 outcome=AuditOutcome.CANCELLED)


def unknown_target(rt: Runtime, kind: str, name: str, *, targets: Mapping[str, object], what: str) -> NotFoundError:
    """Say why `name` cannot be the target of `kind`, and what can."""
    known = sorted(targets)
    listing = ", ".join(f"`{k}`" for k in known[:20]) or "nothing yet"
    exists = rt.config.service(name.lower()) or rt.config.database(name.lower())
    if exists:
        return NotFoundError(f"`{escape(name)}` has no {kind} mechanism configured ({HOW[kind]}). "
                             f"Can {kind}: {listing}.")
    return NotFoundError(f"I don't know the {what} {code(name, 40)}.{did_you_mean(name, known)} "
                         f"Can {kind}: {listing}.")
