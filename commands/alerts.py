"""/ops ack and /ops alert — act on an alarm; each change redraws the alert's card (bot.alerts.card)."""
from __future__ import annotations

from datetime import timedelta

from bot.alerts import card as alert_card
from bot.alerts.service import AlertRecord
from bot.clock import humanize
from bot.config import parse_duration
from bot.errors import UsageError
from bot.reply import Reply, Section, code, escape
from commands.base import CommandContext, Subcommand, parse_id

USAGE = {
    "list": "/ops alert list",
    "ack": "/ops alert ack <id>   (or /ops ack <id>)",
    "resolve": "/ops alert resolve <id>",
    "silence": "/ops alert silence <id> [1h]",
    "escalate": "/ops alert escalate <id> [from <step>]",
}
SILENCE_MAX = timedelta(days=7)


def _id(args: list[str], usage: str) -> int:
    if not args:
        raise UsageError("Which alert? Give its number.", usage=usage)
    alert_id = parse_id(args[0])
    if alert_id is None:
        raise UsageError(f"{code(args[0], 20)} is not an alert number.", usage=usage)
    return alert_id


def _changed(ctx: CommandContext, verb: str, a: AlertRecord, *, text: str | None = None) -> Reply:
    text = text or f"<@{ctx.user_id}> {verb} alert #{a.id} ({escape(a.title[:80])})."
    return Reply(text=text, blocks=(Section(text),), ephemeral=False,
                 redraw=(alert_card.card(a, now=ctx.rt.clock()),))


def run_ack(ctx: CommandContext, args: list[str]) -> Reply:
    return _changed(ctx, "acknowledged", ctx.rt.alerts.acknowledge(_id(args, USAGE["ack"]), user=ctx.user_id))


def run(ctx: CommandContext, args: list[str]) -> Reply:
    if not args:
        raise UsageError("What should I do with alerts?", usage=" | ".join(USAGE.values()))
    verb, rest = args[0].lower(), args[1:]
    if verb == "list":
        return _list(ctx)
    if verb in ("ack", "acknowledge"):
        return run_ack(ctx, rest)
    alerts = ctx.rt.alerts
    if verb == "resolve":
        return _changed(ctx, "resolved", alerts.resolve(_id(rest, USAGE[verb]), user=ctx.user_id))
    if verb == "silence":
        span = _span(rest[1:])
        a = alerts.silence(_id(rest, USAGE[verb]), user=ctx.user_id, for_=span)
        return _changed(ctx, f"silenced for {humanize(span)}", a)
    if verb == "escalate":
        from_step = _from_step(rest[1:])
        a = alerts.escalate(_id(rest, USAGE[verb]), user=ctx.user_id, from_step=from_step)
        return _changed(ctx, "escalated", a, text=f":rotating_light: <!here> <@{ctx.user_id}> escalated alert "
                                                  f"#{a.id}: *{escape(a.title[:80])}*")
    raise UsageError(f"`/ops alert` has no action {code(args[0], 20)}.", usage=" | ".join(USAGE.values()))


def _from_step(args: list[str]) -> int | None:
    if not args:
        return None
    step = parse_id(args[1]) if len(args) == 2 and args[0].lower() == "from" else None
    if step is None:
        raise UsageError("To repeat escalation, say `from <step>`.", usage=USAGE["escalate"])
    return step


def _span(args: list[str]) -> timedelta:
    if not args:
        return timedelta(hours=1)
    try:
        span: timedelta = parse_duration(args[0])
    except (ValueError, OverflowError):
        raise UsageError(f"{code(args[0], 20)} is not a duration: say e.g. 30m, 1h or 2d.",
                         usage=USAGE["silence"]) from None
    if not timedelta(minutes=1) <= span <= SILENCE_MAX:
        raise UsageError("Silence for between 1m and 7d.", usage=USAGE["silence"])
    return span


def _list(ctx: CommandContext) -> Reply:
    alerts = ctx.rt.alerts.live()
    if not alerts:
        return Reply(text="No live alerts. :tada:", blocks=(Section("No live alerts. :tada:"),))
    now = ctx.rt.clock()
    lines = [alert_card.list_line(a, now) for a in alerts]
    return Reply(text="\n".join(lines), blocks=(Section(f"*Live alerts ({len(alerts)})*"), Section("\n".join(lines))))


ACK = Subcommand(name="ack", usage="/ops ack <alert-id>", summary="Acknowledge an alert (you own it now).",
                 run=run_ack)
COMMAND = Subcommand(name="alert", usage="/ops alert list|ack|resolve|silence|escalate …",
                     summary="Act on alarms: list, acknowledge, resolve, silence one alert, escalate.",
                     run=run, more_usage=tuple(USAGE.values()))
