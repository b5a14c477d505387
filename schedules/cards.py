"""A checklist run's report card and its details thread, rendered from the stored run (pure)."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.clock import humanize
from bot.config import OpsConfig
from bot.reply import ActionId, Actions, Button, Card, CardKind, CardRef, Context, Reply, Section, escape, truncate
from schedules.checklists import CheckResult, RunRecord

ICON: dict[str, str] = {CheckResult.OK: ":white_check_mark:", CheckResult.WARN: ":large_yellow_circle:",
        CheckResult.FAIL: ":red_circle:", CheckResult.TODO: ":ballot_box:", CheckResult.DONE: ":ballot_box_with_check:",
        CheckResult.ERROR: ":warning:", CheckResult.RUNNING: ":hourglass_flowing_sand:",
        CheckResult.SKIPPED: ":fast_forward:", CheckResult.MAINTENANCE: ":construction:"}
DETAILS_TEXT = 2800             # a section holds 3000; the code fence and label must fit too
LATE = timedelta(minutes=1)     # a scheduled run this much after its slot says so


def ref(run_id: int) -> CardRef:
    return CardRef(CardKind.CHECKLIST, str(run_id))


def icon(result: str) -> str:
    return ICON.get(result, "")


def render(run: RunRecord, config: OpsConfig) -> Reply:
    """The report: result first, then failing and warning items with reasons, passing collapsed, to-dos last."""
    checklist = config.checklists.get(run.checklist)
    zone = (checklist.timezone if checklist and checklist.timezone else None) or config.timezone
    title = (checklist.title if checklist and checklist.title else None) or f"{run.checklist} checklist"
    when = run.scheduled_for.astimezone(ZoneInfo(zone))
    late = run.started_at - run.scheduled_for
    late_note = (f"\n:hourglass: Late by {humanize(late)}: the bot was not running at {when:%H:%M}"
                 if run.trigger == "schedule" and late >= LATE and run.result != CheckResult.SKIPPED else "")
    head = (f"{icon(run.result)} *{escape(title)}* · {when:%a %d %b %H:%M} {zone}\n"
            f"{run.summary or run.result}{late_note}")
    items = run.items
    problems = [f"{icon(i.result)} *{escape(i.label)}* — {escape(i.reason or i.result)}"
                for i in items if i.result in (CheckResult.FAIL, CheckResult.WARN)]
    problems.sort(key=lambda line: 0 if line.startswith(ICON[CheckResult.FAIL]) else 1)
    passed = [escape(i.label) for i in items if i.result == CheckResult.OK]
    blocks: list[Section | Context | Actions] = [Section(head)]
    if problems:
        blocks.append(Section("\n".join(problems)))
    if passed:
        blocks.append(Context(f"{ICON[CheckResult.OK]} {len(passed)} passed: " + ", ".join(passed)))
    resting = [f"{escape(i.label)} ({escape(i.reason or 'in maintenance')})" for i in items
               if i.result == CheckResult.MAINTENANCE]
    if resting:
        blocks.append(Context(truncate(f"{ICON[CheckResult.MAINTENANCE]} {len(resting)} in maintenance, not checked: "
                                       + "; ".join(resting), 2900)))
    for item in items:
        if item.result == CheckResult.DONE:
            blocks.append(Context(f"{ICON[CheckResult.DONE]} {escape(item.label)} — done by <@{item.done_by}> "
                                  f"at {item.done_at:%H:%M} UTC"))
    todo = [i for i in items if i.result == CheckResult.TODO]
    if todo:
        blocks.append(Section("*To do by hand:*\n" + "\n".join(f"{ICON[CheckResult.TODO]} {escape(i.label)}"
                                                                for i in todo)))
        blocks.append(Actions(tuple(Button(f"Done: {i.label[:60]}", ActionId.CHECKLIST_DONE, f"{run.id}.{i.position}")
                                    for i in todo[:25])))
    return Reply(text=f"{title}: {run.summary or run.result}", blocks=tuple(blocks), ephemeral=False, card=ref(run.id))


def card(run: RunRecord, config: OpsConfig) -> Card:
    return Card(ref(run.id), render(run, config))


def details(run: RunRecord) -> tuple[Reply, ...]:
    """The thread under a report: what every check saw, one section per check (nothing for manual steps)."""
    sections = [Section(f"{icon(i.result)} *{escape(i.label)}*\n```{truncate(escape(i.details), DETAILS_TEXT)}```")
                for i in run.items if i.details]
    if not sections:
        return ()
    head = Context(f"Details of run #{run.id}: every finding of every check")
    return (Reply(text=f"Details of checklist run #{run.id}", blocks=(head, *sections), ephemeral=False),)
