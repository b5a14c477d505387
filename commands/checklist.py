"""/ops checklist — run a checklist now, list them with their next run, show a checklist's history."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.clock import humanize
from bot.cron import cron_trigger
from bot.errors import ConflictError, NotFoundError, UsageError
from bot.reply import Actions, Button, Context, Reply, Section, code, escape, truncate
from bot.runtime import Runtime
from commands.base import CommandContext, Subcommand
from schedules import checklists
from schedules.checklists import RunRecord, run_checklist

USAGE = {"run": "/ops checklist run <name>", "list": "/ops checklist list", "history": "/ops checklist history <name>"}
ICON = {"ok": ":white_check_mark:", "warn": ":large_yellow_circle:", "fail": ":red_circle:", "todo": ":ballot_box:",
        "done": ":ballot_box_with_check:", "error": ":warning:", "running": ":hourglass_flowing_sand:",
        "skipped": ":fast_forward:"}
DETAILS_TEXT = 2800                  # a section holds 3000; the code fence and label must fit too
LATE = timedelta(minutes=1)     # a scheduled run this much after its slot says so


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
        return load_card(ctx.rt, str(run_id))
    if verb == "list":
        return _list(ctx)
    if verb == "history":
        return _history(ctx, _name(ctx, rest, USAGE["history"]))
    if verb == "done":
        return _done(ctx, rest)
    raise UsageError(f"`/ops checklist` has no action {code(args[0], 20)}.", usage=" | ".join(USAGE.values()))


def card(run_row: RunRecord, rt: Runtime) -> Reply:
    """The report: result first, then failing and warning items with reasons, passing collapsed, to-dos last."""
    checklist = rt.config.checklists.get(run_row.checklist)
    zone = (checklist.timezone if checklist and checklist.timezone else None) or rt.config.timezone
    title = (checklist.title if checklist and checklist.title else None) or f"{run_row.checklist} checklist"
    when = run_row.scheduled_for.astimezone(ZoneInfo(zone))
    late = run_row.started_at - run_row.scheduled_for
    late_note = (f"\n:hourglass: Late by {humanize(late)}: the bot was not running at {when:%H:%M}"
                 if run_row.trigger == "schedule" and late >= LATE and run_row.result != "skipped" else "")
    head = (f"{ICON.get(run_row.result, '')} *{escape(title)}* · {when:%a %d %b %H:%M} {zone}\n"
            f"{run_row.summary or run_row.result}{late_note}")
    items = run_row.items
    problems = [f"{ICON[i.result]} *{escape(i.label)}* — {escape(i.reason or i.result)}"
                for i in items if i.result in ("fail", "warn")]
    problems.sort(key=lambda line: 0 if line.startswith(ICON["fail"]) else 1)
    passed = [escape(i.label) for i in items if i.result == "ok"]
    blocks: list[Section | Context | Actions] = [Section(head)]
    if problems:
        blocks.append(Section("\n".join(problems)))
    if passed:
        blocks.append(Context(f"{ICON['ok']} {len(passed)} passed: " + ", ".join(passed)))
    for item in items:
        if item.result == "done":
            blocks.append(Context(f"{ICON['done']} {escape(item.label)} — done by <@{item.done_by}> "
                                  f"at {item.done_at:%H:%M} UTC"))
    todo = [i for i in items if i.result == "todo"]
    if todo:
        blocks.append(Section("*To do by hand:*\n" + "\n".join(f"{ICON['todo']} {escape(i.label)}" for i in todo)))
        blocks.append(Actions(tuple(Button(f"Done: {i.label[:60]}", "checklist.done", f"{run_row.id}.{i.position}")
                                    for i in todo[:25])))
    return Reply(text=f"{title}: {run_row.summary or run_row.result}", blocks=tuple(blocks), ephemeral=False,
                 card=("checklist", str(run_row.id)))


def _run_id(key: str) -> int:
    """A report's card key: the run id, or a Done button's `<run>.<step>` (the card it sits on is the run's)."""
    return int(key.partition(".")[0])


def load_card(rt: Runtime, key: str) -> Reply:
    return card(checklists.get_run(rt, _run_id(key)), rt)


def card_location(rt: Runtime, key: str) -> tuple[str, str] | None:
    row = checklists.get_run(rt, _run_id(key))
    return (row.slack_channel, row.slack_ts) if row.slack_channel and row.slack_ts else None


def attach_card(rt: Runtime, key: str, channel: str, ts: str) -> None:
    checklists.attach(rt, _run_id(key), channel, ts)


def _done(ctx: CommandContext, args: list[str]) -> Reply:
    run_id, _, position = (args[0] if args else "").partition(".")
    if not (run_id.isdigit() and position.isdigit()):
        raise UsageError("Which step? The Done button knows.", usage="/ops checklist done <run>.<step>")
    checklists.mark_done(ctx.rt, int(run_id), int(position), user=ctx.user_id)
    text = f"<@{ctx.user_id}> did a checklist step."
    return Reply(text=text, blocks=(Section(text),), refresh=("checklist", run_id))


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
        seen = (f"; last {ICON.get(last[0].result, '')} {last[0].scheduled_for.astimezone(ZoneInfo(zone)):%a %H:%M} "
                f"({last[0].summary or last[0].result})" if last else "; not run yet")
        lines.append(f"• *{escape(name)}* — {len(c.checks)} check(s), {when}{escape(seen)}")
    return Reply(text="\n".join(lines), blocks=(Section("*Checklists*"), Section("\n".join(lines))))


def _history(ctx: CommandContext, name: str) -> Reply:
    checklist = ctx.rt.config.checklists[name]
    zone = checklist.timezone or ctx.rt.config.timezone
    lines = []
    for r in checklists.history(ctx.rt, name):
        who = f" by <@{r.requested_by}>" if r.requested_by else ""
        unposted = (" · _not posted to Slack (see the bot's log)_"
                    if r.trigger == "schedule" and r.result not in ("skipped", "running") and not r.slack_ts else "")
        lines.append(f"{ICON.get(r.result, '')} {r.scheduled_for.astimezone(ZoneInfo(zone)):%a %d %b %H:%M} "
                     f"{zone} · {r.trigger}{who} · {r.summary or r.result}{unposted}")
    if not lines:
        return Reply(text=f"`{name}` has not run yet.", blocks=(Section(f"`{name}` has not run yet."),))
    return Reply(text="\n".join(lines), blocks=(Section(f"*Last runs of {escape(name)}*"), Section("\n".join(lines))))


COMMAND = Subcommand(name="checklist", usage="/ops checklist run|list|history …",
                     summary="Run a runbook checklist now, list the schedules, see past runs.", run=run, slow=True,
                     more_usage=tuple(USAGE.values()))


def details(run_row: RunRecord) -> tuple[Reply, ...]:
    """The thread under a report: what every check saw, one section per check (nothing for manual steps)."""
    sections = [Section(f"{ICON.get(i.result, '')} *{escape(i.label)}*\n"
                        f"```{truncate(escape(i.details), DETAILS_TEXT)}```")
                for i in run_row.items if i.details]
    if not sections:
        return ()
    head = Context(f"Details of run #{run_row.id}: every finding of every check")
    return (Reply(text=f"Details of checklist run #{run_row.id}", blocks=(head, *sections), ephemeral=False),)
