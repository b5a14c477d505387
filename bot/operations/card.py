"""A destructive operation's card, rendered from its record: what will change, who may confirm, where it stands."""
from __future__ import annotations

from datetime import datetime

from bot import permissions
from bot.config.access import Permissions
from bot.operations import approvals
from bot.operations.actions import ActionRecord
from bot.reply import (
    ActionId,
    Actions,
    Button,
    Card,
    CardKind,
    CardRef,
    Context,
    Reply,
    Section,
    Style,
    code,
    escape,
    truncate,
)
from bot.storage.models import ActionState
from integrations.base import Plan

VERB = {"rollback": "Roll back", "backup": "Back up", "scale": "Scale", "restart": "Restart", "redrive": "Redrive",
        "run": "Run"}
NOUN = {"rollback": "Rollback", "backup": "Backup", "scale": "Scaling", "restart": "Restart", "redrive": "Redrive",
        "run": "Run"}
ANYONE = "anyone in the channel"            # who may confirm an operation no role restricts


def confirmers(perms: Permissions, kind: str, action_roles: tuple[str, ...] | None = None) -> str:
    """Who may confirm an operation of `kind` (done by a named action with `action_roles`), as its card says it."""
    roles = permissions.allowed_roles(perms, kind)

    def names(rs: tuple[str, ...]) -> str:
        return "admins or " + " / ".join(f"`{r}`" for r in rs) if rs else "admins"

    if roles is None or action_roles is None:
        either = roles if roles is not None else action_roles
        return ANYONE if either is None else names(either)
    if set(action_roles) <= set(roles):         # the action's roles alone say it
        return names(action_roles)
    return ("admins, or people with " + " / ".join(f"`{r}`" for r in action_roles) + " who also have "
            + " / ".join(f"`{r}`" for r in roles))


def ref(action_id: str) -> CardRef:
    return CardRef(CardKind.ACTION, action_id)


def change_lines(plan: Plan) -> tuple[str, ...]:
    if plan.action is not None:                 # a named action: what it runs (secrets shown as templates)
        shown = truncate(escape(plan.desired), 1500)
        return (f"*Target*\n{escape(plan.target)}", f"*Runs* ({escape(plan.current)})\n```{shown}```")
    return (f"*Target*\n{escape(plan.target)}", f"*Change*\n{escape(plan.current)}  →  {escape(plan.desired)}")


def change_text(plan: Plan) -> str:
    """The change in one line of a message."""
    if plan.action is not None:
        return f"{escape(plan.target)}: {code(plan.desired.splitlines()[0] if plan.desired else '', 500)}"
    return f"{escape(plan.target)} ({escape(plan.current)} → {escape(plan.desired)})"


def dry_run(plan: Plan, *, subject: str) -> Reply:
    head = f":mag: *Dry run: {VERB[plan.kind].lower()} {escape(subject)}* — nothing was changed."
    return Reply(text=f"Dry run: {plan.kind} {subject}: {plan.current} -> {plan.desired}",
                 blocks=(Section(head, fields=change_lines(plan)),
                         Context("Run it without `--dry-run` to get Confirm/Cancel buttons.")))


def render(a: ActionRecord, *, now: datetime, perms: Permissions) -> Reply:
    subject, plan, fields = escape(a.subject), a.plan, change_lines(a.plan)
    if a.state is ActionState.AWAITING and not a.expired(now):
        head = f":warning: *{VERB[a.kind]} {subject}?* Requested by <@{a.requested_by}>."
        who = confirmers(perms, a.kind, plan.roles)
        alone = "Anyone in the channel may confirm" if who == ANYONE else f"Only {who} may confirm"
        rule = alone if a.approvals_required < 2 else approvals.progress(
            a, confirmers=who, requester_may=permissions.may_run(perms, a.requested_by, a.kind))
        return Reply(text=f"Confirm {a.kind} of {a.subject}: {plan.current} -> {plan.desired}", ephemeral=False,
                     card=ref(a.id), blocks=(
            Section(head, fields=fields),
            Actions((Button(f"Confirm {a.kind}", ActionId.CONFIRM, a.id, Style.DANGER),
                     Button("Cancel", ActionId.CANCEL, a.id))),
            Context(f"{rule} · expires {a.expires_at:%H:%M} UTC · `/ops confirm {a.id}`"),
        ))
    line = {
        ActionState.AWAITING: f":hourglass: *{NOUN[a.kind]} of {subject} expired* "
                              + (f"with {len(a.approvals)} of {a.approvals_required} approvals"
                                 if a.approvals_required > 1 else "unconfirmed") + "; nothing was changed.",
        ActionState.RUNNING: f":hourglass_flowing_sand: *{NOUN[a.kind]} of {subject} running* — confirmed by"
                             f" <@{a.decided_by}>. Progress in the thread.",
        ActionState.SUCCEEDED: f":white_check_mark: *{NOUN[a.kind]} of {subject} done*: {escape(a.outcome or '')}",
        ActionState.FAILED: f":x: *{NOUN[a.kind]} of {subject} failed*: {escape(a.outcome or '')}",
        ActionState.CANCELLED: f":no_entry_sign: *{NOUN[a.kind]} of {subject} cancelled* by <@{a.decided_by}>;"
                               " nothing was changed.",
        ActionState.INTERRUPTED: f":warning: *{NOUN[a.kind]} of {subject} interrupted* — the outcome is unknown; "
                                 f"check {escape(plan.target)}. {escape(a.outcome or '')}",
    }[a.state]
    approved = approvals.approved_by(a)
    who = f"Requested by <@{a.requested_by}>" + (
        f" · {approved}" if approved else
        f" · confirmed by <@{a.decided_by}>" if a.decided_by and a.state is not ActionState.CANCELLED else "")
    return Reply(text=line, blocks=(Section(line, fields=fields), Context(who)), ephemeral=False, card=ref(a.id))


def card(a: ActionRecord, *, now: datetime, perms: Permissions) -> Card:
    return Card(ref(a.id), render(a, now=now, perms=perms))


HOW = {
    "rollback": "add `kubernetes:`, `lambda:`, `beanstalk:`, `cloudformation:` or `rollback: {action: …}` to the "
                "service",
    "backup": "add `rds:`, `kubernetes_cronjob:` or `backup: {action: …}` to the database",
    "run": "add it under `actions:`",
    "scale": "add `kubernetes:` to the service",
    "redrive": "add `sqs_dlq:` to the service, or list the queue under `queues:`",
    "restart": "add `kubernetes:`, `beanstalk:` or `restart: {action: …}` to the service",
}
