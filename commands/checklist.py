"""/ops checklist — run a checklist now, list them with their next run, show a checklist's history."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.cron import cron_trigger
from bot.errors import ConflictError, NotFoundError, UsageError
from bot.reply import Reply, Section, code, escape
from commands.base import CommandContext, Subcommand, parse_id
from schedules import cards, checklists
from schedules.checklists import CheckResult, run_checklist

USAGE = {"run": "/ops checklist run <name>", "list": "/ops checklist list", "history": "/ops checklist history <name>"}


def _name(ctx: CommandContext, args: list[str], usage: str) -> str:
    if len(args) != 1:
        raise UsageError("Name one checklist.", usage=usage)
    name = args[0].lower()
    if name not in ctx.rt.config.checklists:
        known = ", ".join(f"`{n}`" for n in ctx.rt.config.checklists) or "none configured (add `checklists:`)"
        raise NotFoundError(f"There is no checklist {code(args[0], 40)}. Checklists: {known}.")
    return name


def run(ctx: CommandContext, args: list[str]) -> Reply:
    if not args:
        raise UsageError("What should I do with checklists?", usage=" | ".join(USAGE.values()))
    verb, rest = args[0].lower(), args[1:]
    if verb == "run":
        name = _name(ctx, rest, USAGE["run"])
        run_id = run_checklist(ctx.rt, name, scheduled_for=ctx.rt.clock(), trigger="manual", requested_by=ctx.user_id)
        if run_id is None:
            raise ConflictError(f"`{name}` is already running for this moment; try again in a second.")
        return cards.render(checklists.get_run(ctx.rt, run_id), ctx.rt.config)
    if verb == "list":
        return _list(ctx)
    if verb == "history":
        return _history(ctx, _name(ctx, rest, USAGE["history"]))
    if verb == "done":
        return _done(ctx, rest)
    raise UsageError(f"`/ops checklist` has no action {code(args[0], 20)}.", usage=" | ".join(USAGE.values()))


def _done(ctx: CommandContext, args: list[str]) -> Reply:
    run_word, _, position_word = (args[0] if len(args) == 1 else "").partition(".")
    run_id, position = parse_id(run_word), parse_id(position_word)
    if run_id is None or position is None:
        raise UsageError("Which step? The Done button knows.", usage="/ops checklist done <run>.<step>")
    run = checklists.mark_done(ctx.rt, run_id, position, user=ctx.user_id)
    text = f"<@{ctx.user_id}> did a checklist step."
    return Reply(text=text, blocks=(Section(text),), redraw=(cards.card(run, ctx.rt.config),))


def _list(ctx: CommandContext) -> Reply:
    if not ctx.rt.config.checklists:
        return Reply(text="No checklists configured (add `checklists:` to ops.yaml).",
                     blocks=(Section("No checklists configured (add `checklists:` to ops.yaml)."),))
    now, lines = ctx.rt.clock(), []
    for name, c in ctx.rt.config.checklists.items():
        zone = c.timezone or ctx.rt.config.timezone
        if c.schedule:
            nxt: datetime | None = cron_trigger(c.schedule, ZoneInfo(zone)).get_next_fire_time(
                None, now)
            when = f"`{c.schedule}` ({zone}), next {nxt:%a %d %b %H:%M}" if nxt else f"`{c.schedule}`"
        else:
            when = "on demand only"
        last = checklists.history(ctx.rt, name, limit=1)
        seen = (f"; last {cards.icon(last[0].result)} {last[0].scheduled_for.astimezone(ZoneInfo(zone)):%a %H:%M} "
                f"({last[0].summary or last[0].result})" if last else "; not run yet")
        lines.append(f"• *{escape(name)}* — {len(c.checks)} check(s), {when}{escape(seen)}")
    return Reply(text="\n".join(lines), blocks=(Section("*Checklists*"), Section("\n".join(lines))))


def _history(ctx: CommandContext, name: str) -> Reply:
    checklist = ctx.rt.config.checklists[name]
    zone = checklist.timezone or ctx.rt.config.timezone
    lines = []
    for r in checklists.history(ctx.rt, name):
        who = f" by <@{r.requested_by}>" if r.requested_by else ""
        unposted = (" · _not posted to Slack (see the bot's log)_" if r.trigger == "schedule" and r.result not in
                    (CheckResult.SKIPPED, CheckResult.RUNNING) and r.posted_at is None else "")
        lines.append(f"{cards.icon(r.result)} {r.scheduled_for.astimezone(ZoneInfo(zone)):%a %d %b %H:%M} "
                     f"{zone} · {r.trigger}{who} · {r.summary or r.result}{unposted}")
    if not lines:
        return Reply(text=f"`{name}` has not run yet.", blocks=(Section(f"`{name}` has not run yet."),))
    return Reply(text="\n".join(lines), blocks=(Section(f"*Last runs of {escape(name)}*"), Section("\n".join(lines))))


COMMAND = Subcommand(name="checklist", usage="/ops checklist run|list|history …",
                     summary="Run a runbook checklist now, list the schedules, see past runs.", run=run, slow=True,
                     more_usage=tuple(USAGE.values()))
