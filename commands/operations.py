"""The shared flow of destructive commands (rollback, backup, scale): plan, confirm, apply once, report.

`/ops rollback|backup|scale` computes a Plan (no side effects) and either shows it (`--dry-run`) or stores
it as a pending action whose card carries Confirm/Cancel. Confirm re-checks the clicker's role, claims
the action exactly once, applies the stored plan, and records the outcome in the audit log, on the card,
and on the timeline of any open incident of that service.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TypeVar

from bot import actions, incidents, permissions
from bot.actions import ActionState
from bot.errors import NotFoundError, new_ref
from bot.reply import Actions, Button, Context, Reply, Section, Style, code, escape
from bot.runtime import Runtime
from bot.storage.db import session_scope
from commands.base import CommandContext, did_you_mean
from integrations.base import (
    AdapterError,
    BackupPlan,
    Integrations,
    Outcome,
    Plan,
    Progress,
    RollbackPlan,
)

log = logging.getLogger(__name__)
VERB = {"rollback": "Roll back", "backup": "Back up", "scale": "Scale"}
NOUN = {"rollback": "Rollback", "backup": "Backup", "scale": "Scaling"}


T = TypeVar("T")


def targets_for(rt: Runtime, kind: str) -> Mapping[str, object]:
    """The names that can take `kind` (only for listing them: applying goes through `apply_plan`)."""
    integ = rt.integrations
    found: Mapping[str, object] = {"rollback": integ.rollback_targets, "backup": integ.backup_targets,
                                   "scale": integ.scale_targets}[kind]
    return found


def _who_may(rt: Runtime, kind: str) -> str:
    roles = permissions.allowed_roles(rt.config.permissions, kind)
    if roles is None:
        return "anyone in the channel"
    return "admins or " + " / ".join(f"`{r}`" for r in roles)


def _change_lines(plan: Plan) -> list[str]:
    return [f"*Target*\n{escape(plan.target)}", f"*Change*\n{escape(plan.current)}  →  {escape(plan.desired)}"]


def offer(ctx: CommandContext, kind: str, name: str, *, targets: Mapping[str, T], what: str, dry: bool,
          make_plan: Callable[[T], Plan]) -> Reply:
    """Plan `kind` on the target called `name`; show the plan (`--dry-run`) or offer it for confirmation."""
    subject = name.lower()
    target = targets.get(subject)
    if target is None:
        raise unknown_target(ctx.rt, kind, name, what=what)
    plan = make_plan(target)
    return dry_run(plan, subject=subject) if dry else propose(ctx, plan, subject=subject)


def dry_run(plan: Plan, *, subject: str) -> Reply:
    head = f":mag: *Dry run: {VERB[plan.kind].lower()} {escape(subject)}* — nothing was changed."
    return Reply(text=f"Dry run: {plan.kind} {subject}: {plan.current} -> {plan.desired}",
                 blocks=(Section(head, fields=tuple(_change_lines(plan))),
                         Context("Run it without `--dry-run` to get Confirm/Cancel buttons.")))


def propose(ctx: CommandContext, plan: Plan, *, subject: str) -> Reply:
    with session_scope(ctx.rt.sessions) as session:
        action = actions.propose(session=session, kind=plan.kind, subject=subject, plan=plan,
                                 requested_by=ctx.user_id, channel_id=ctx.channel_id, at=ctx.rt.clock())
    reply = render(ctx.rt, action)
    return Reply(text=reply.text, blocks=reply.blocks, ephemeral=False, card=("action", action.id),
                 outcome="proposed", detail=f"{plan.current} -> {plan.desired}")


def render(rt: Runtime, a: actions.ActionRecord) -> Reply:
    """The action's card, from its row: what will change, who may confirm, and where it stands."""
    now = rt.clock()
    subject, plan = escape(a.subject), a.plan
    fields = tuple(_change_lines(plan))
    state = ActionState(a.state)
    if state is ActionState.AWAITING and not a.expired(now):
        head = f":warning: *{VERB[a.kind]} {subject}?* Requested by <@{a.requested_by}>."
        return Reply(text=f"Confirm {a.kind} of {a.subject}: {plan.current} -> {plan.desired}", blocks=(
            Section(head, fields=fields),
            Actions((Button(f"Confirm {a.kind}", "ops.confirm", a.id, Style.DANGER),
                     Button("Cancel", "ops.cancel", a.id))),
            Context(f"Only {_who_may(rt, a.kind)} may confirm · expires {a.expires_at:%H:%M} UTC"
                    f" · `/ops confirm {a.id}`"),
        ))
    line = {
        ActionState.AWAITING: f":hourglass: *{NOUN[a.kind]} of {subject} expired* unconfirmed; nothing was changed.",
        ActionState.RUNNING: f":hourglass_flowing_sand: *{NOUN[a.kind]} of {subject} running* — confirmed by"
                             f" <@{a.decided_by}>. Progress in the thread.",
        ActionState.SUCCEEDED: f":white_check_mark: *{NOUN[a.kind]} of {subject} done*: {escape(a.outcome or '')}",
        ActionState.FAILED: f":x: *{NOUN[a.kind]} of {subject} failed*: {escape(a.outcome or '')}",
        ActionState.CANCELLED: f":no_entry_sign: *{NOUN[a.kind]} of {subject} cancelled* by <@{a.decided_by}>;"
                               " nothing was changed.",
    }[state]
    who = f"Requested by <@{a.requested_by}>" + (f" · confirmed by <@{a.decided_by}>"
                                                 if a.decided_by and state is not ActionState.CANCELLED else "")
    return Reply(text=line, blocks=(Section(line, fields=fields), Context(who)))


def load_card(rt: Runtime, key: str) -> Reply:
    with session_scope(rt.sessions) as session:
        action = actions.get(session=session, action_id=key)
    return render(rt, action)


def card_location(rt: Runtime, key: str) -> tuple[str, str] | None:
    with session_scope(rt.sessions) as session:
        a = actions.get(session=session, action_id=key)
    return (a.channel_id, a.slack_ts) if a.channel_id and a.slack_ts else None


def attach_card(rt: Runtime, key: str, channel: str, ts: str) -> None:
    with session_scope(rt.sessions) as session:
        actions.attach_message(session=session, action_id=key, channel=channel, ts=ts)


def confirm(ctx: CommandContext, action_id: str) -> Reply:
    rt = ctx.rt
    with session_scope(rt.sessions) as session:
        action = actions.get(session=session, action_id=action_id)
    permissions.check(rt.config.permissions, ctx.user_id, action.kind, doing=f"Confirming this {action.kind}")
    with session_scope(rt.sessions) as session:
        action = actions.claim(session=session, action_id=action_id, user=ctx.user_id, at=rt.clock())
    ctx.refresh(("action", action.id))
    ctx.progress(f":arrow_forward: <@{ctx.user_id}> confirmed: {VERB[action.kind].lower()} "
                 f"{escape(action.plan.target)} ({escape(action.plan.current)} → {escape(action.plan.desired)}).")
    outcome = _apply(ctx, action)
    now = rt.clock()
    with session_scope(rt.sessions) as session:
        done = actions.finish(session=session, action_id=action.id, ok=outcome.ok, summary=outcome.summary, at=now)
        touched = incidents.note_for_service(session=session, service=action.subject, kind=action.kind,
                                             actor=ctx.user_id, note=f"{'ok' if outcome.ok else 'FAILED'}: "
                                             f"{outcome.summary}", at=now)
    for incident_id in touched:
        ctx.refresh(("incident", str(incident_id)))
    icon = ":white_check_mark:" if outcome.ok else ":x:"
    text = f"{icon} {NOUN[done.kind]} of *{escape(done.subject)}* {'finished' if outcome.ok else 'failed'}: " \
           f"{escape(outcome.summary)}"
    return Reply(text=text, blocks=(Section(text),), ephemeral=False, refresh=("action", done.id),
                 outcome="ok" if outcome.ok else "failed", detail=outcome.summary[:1000])


def apply_plan(integ: Integrations, subject: str, plan: Plan, *, progress: Progress) -> Outcome:
    """Apply a stored plan through its operation's typed target; refuses if the target left the config."""
    missing = Outcome(False, f"{subject} no longer has a {plan.kind} target in the config")
    if isinstance(plan, RollbackPlan):
        rollback = integ.rollback_targets.get(subject)
        return rollback.rollback(plan, progress=progress) if rollback else missing
    if isinstance(plan, BackupPlan):
        backup = integ.backup_targets.get(subject)
        return backup.backup(plan, progress=progress) if backup else missing
    scale = integ.scale_targets.get(subject)
    return scale.scale(plan, progress=progress) if scale else missing


def _apply(ctx: CommandContext, action: actions.ActionRecord) -> Outcome:
    try:
        return apply_plan(ctx.rt.integrations, action.subject, action.plan, progress=ctx.progress)
    except AdapterError as exc:
        return Outcome(False, str(exc))
    except Exception:
        ref = new_ref()
        log.exception("%s of %s crashed: ref=%s", action.kind, action.subject, ref)
        return Outcome(False, f"the operation crashed (ref `{ref}`); check the target's state before retrying")


def cancel(ctx: CommandContext, action_id: str) -> Reply:
    rt = ctx.rt
    with session_scope(rt.sessions) as session:
        action = actions.get(session=session, action_id=action_id)
    if ctx.user_id != action.requested_by:
        permissions.check(rt.config.permissions, ctx.user_id, action.kind, doing=f"Cancelling this {action.kind}")
    with session_scope(rt.sessions) as session:
        action = actions.cancel(session=session, action_id=action_id, user=ctx.user_id, at=rt.clock())
    text = f":no_entry_sign: <@{ctx.user_id}> cancelled the {action.kind} of *{escape(action.subject)}*."
    return Reply(text=text, blocks=(Section(text),), ephemeral=False, refresh=("action", action.id),
                 outcome="cancelled")


def unknown_target(rt: Runtime, kind: str, name: str, *, what: str) -> NotFoundError:
    """Say why `name` cannot be the target of `kind`, and what can."""
    known = sorted(targets_for(rt, kind))
    listing = ", ".join(f"`{k}`" for k in known[:20]) or "nothing yet"
    exists = rt.config.service(name.lower()) or rt.config.database(name.lower())
    if exists:
        return NotFoundError(f"`{escape(name)}` has no {kind} mechanism configured ({HOW[kind]}). "
                             f"Can {kind}: {listing}.")
    return NotFoundError(f"I don't know the {what} {code(name, 40)}.{did_you_mean(name, known)} "
                         f"Can {kind}: {listing}.")


HOW = {
    "rollback": "add `kubernetes:`, `lambda:`, `beanstalk:` or `cloudformation:` to the service",
    "backup": "add `rds:` or `kubernetes_cronjob:` to the database",
    "scale": "add `kubernetes:` to the service",
}
