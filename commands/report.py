"""/ops report — a built-in report on demand; today the weekly incident report (schedules.weekly_report)."""
from __future__ import annotations

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from bot.errors import UsageError
from bot.reply import Reply, code
from commands.base import CommandContext, Subcommand, did_you_mean
from schedules.weekly_report import weekly_report

USAGE = "/ops report weekly [YYYY-MM-DD]"
REPORTS = ["weekly"]
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")     # date.fromisoformat alone also takes 20261123 and 2026-W48-1


def run(ctx: CommandContext, args: list[str]) -> Reply:
    if not args:
        raise UsageError("Which report? There is `weekly`.", usage=USAGE)
    if args[0].lower() not in REPORTS:
        raise UsageError(f"There is no report {code(args[0], 30)}; there is `weekly`."
                         f"{did_you_mean(args[0], REPORTS)}", usage=USAGE)
    if len(args) > 2:
        raise UsageError("Give at most one date: the week ends when that day starts.", usage=USAGE)
    zone = ctx.rt.config.timezone
    day = _date(args[1]) if len(args) == 2 else ctx.rt.clock().astimezone(ZoneInfo(zone)).date()
    # The week ends at 00:00 local on `day`: a report asked for on a Monday covers Monday to Sunday just gone.
    return weekly_report(ctx.rt, end=datetime.combine(day, time(), tzinfo=ZoneInfo(zone)), zone=zone)


def _date(word: str) -> date:
    try:
        day = date.fromisoformat(word) if ISO_DATE.fullmatch(word) else None
    except ValueError:
        day = None
    if day is None:
        raise UsageError(f"{code(word, 30)} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-23.", usage=USAGE)
    if not 1970 <= day.year <= 9998:
        raise UsageError(f"{code(word, 30)} is out of range; pick a year from 1970 to 9998.", usage=USAGE)
    return day


COMMAND = Subcommand(
    name="report",
    usage=USAGE,
    summary="The weekly incident report: opened and resolved by severity, MTTA, MTTR, noisiest services.",
    run=run,
)
