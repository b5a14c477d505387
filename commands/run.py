"""/ops run — run one of the team's named actions (config `actions:`): a script without a shell, or an HTTP call.

`/ops run <action> [key=value …] [--dry-run]`. The arguments are checked against the action's config before
anything runs. An action with `confirm: true` (the default) gets a Confirm card, as a rollback does; one with
`confirm: false`, and any action's `--dry-run` form (its config's `dry_run:`, which the team declares
harmless), starts at once. Either way it runs on the operation runner, its output streams to the card's
thread, and the outcome is on the card and in the audit log. The action's `roles` are checked here and again
on Confirm. `/ops run` alone lists the actions.
"""
from __future__ import annotations

from dataclasses import replace

from bot import permissions
from bot.config.actions import ActionConfig, ArgumentError
from bot.errors import AuditOutcome, NotFoundError, UsageError
from bot.reply import Reply, Section, code, escape, text_reply, truncate
from commands.base import CommandContext, Subcommand, did_you_mean, parse_flags

USAGE = "/ops run <action> [key=value …] [--dry-run]"
MAX_LISTED = 30


def run(ctx: CommandContext, args: list[str]) -> Reply:
    words, flags = parse_flags(args, flags=("--dry-run",))
    if not words:
        return listing(ctx)
    name, dry = words[0].lower(), "--dry-run" in flags
    cfg = ctx.rt.config.action(name)
    target = ctx.rt.integrations.action_targets.get(name)
    if cfg is None or target is None:
        known = sorted(a.name for a in ctx.rt.config.actions)
        if not known:
            raise NotFoundError("No actions are configured (add them under `actions:` in ops.yaml).")
        raise NotFoundError(f"I don't know the action {code(name, 40)}.{did_you_mean(name, known)} "
                            f"Actions: {', '.join(f'`{k}`' for k in known[:MAX_LISTED])}.")
    permissions.check_action(ctx.rt.config.permissions, ctx.user_id, name, cfg.roles, doing=f"Running `{name}`")
    try:
        bound = cfg.bind(key_values(words[1:]))
    except ArgumentError as exc:
        raise UsageError(f"{exc}.", usage=f"/ops run {name} {signature(cfg)}") from None
    if dry and cfg.dry_run is None:
        raise UsageError(f"`{name}` has no dry-run form (its config has no `dry_run:`); nothing was run.")
    plan = target.plan_run(bound, dry_run=dry)
    ops = ctx.rt.operations
    if cfg.confirm and not dry:
        action = ops.propose(plan, subject=name, requested_by=ctx.user_id, channel_id=ctx.channel_id,
                             approvals=cfg.approvals)
        return replace(ops.card(action).reply, outcome=AuditOutcome.PROPOSED, detail=plan.desired[:500])
    action = ops.start(plan, subject=name, requested_by=ctx.user_id, channel_id=ctx.channel_id)
    what = f"the dry-run form of `{escape(name)}`" if dry else f"`{escape(name)}` (it needs no confirmation)"
    return replace(text_reply(f":arrow_forward: Started {what}. Its output and outcome follow in its card's "
                              "thread."),
                   outcome=AuditOutcome.CONFIRMED, detail=f"{action.id}: {plan.desired[:480]}")


def key_values(words: list[str]) -> dict[str, str]:
    """`key=value` words as a mapping; a word without `=`, or a key given twice, is a UsageError."""
    given: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise UsageError(f"{code(word, 40)} is not `key=value` (quote a value with spaces: "
                             "`reason=\"bad deploy\"`).", usage=USAGE)
        key = key.lower()
        if key in given:
            raise UsageError(f"{code(key, 32)} is given twice.", usage=USAGE)
        given[key] = value
    return given


def signature(cfg: ActionConfig) -> str:
    """`env=prod|staging [reason=…]`: the arguments as someone would type them."""
    parts = []
    for key, arg in cfg.args.items():
        value = "|".join(arg.choices) if arg.choices else "…"
        parts.append(f"{key}={value}" if arg.required else f"[{key}={value}]")
    return " ".join(parts)


def listing(ctx: CommandContext) -> Reply:
    actions = ctx.rt.config.actions
    if not actions:
        return text_reply("No actions are configured (add them under `actions:` in ops.yaml).")
    lines = []
    for a in actions[:MAX_LISTED]:
        how = "asks for confirmation" if a.confirm else "runs at once"
        extra = " · `--dry-run`" if a.dry_run is not None else ""
        lines.append(f"• `{a.name}` {escape(signature(a))} — {escape(a.description or '')} _({how}{extra})_")
    more = f"\n… and {len(actions) - MAX_LISTED} more" if len(actions) > MAX_LISTED else ""
    text = truncate("*Actions* — `/ops run <action> key=value …`\n" + "\n".join(lines), 2900) + more
    return Reply(text=text, blocks=(Section(text),))


COMMAND = Subcommand(
    name="run",
    usage=USAGE,
    summary="Run one of the team's named actions (a script or an HTTP call; most ask for confirmation).",
    run=run,
    slow=True,
)
