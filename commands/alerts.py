"""/ops ack and /ops alert — act on an alarm; the alarm card is rendered from its row."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from bot.alarms import service
from bot.alarms.service import AlertRecord
from bot.clock import humanize
from bot.config import parse_duration
from bot.errors import UsageError
from bot.reply import Actions, Button, Context, Reply, Section, Style, code, escape
from bot.runtime import Runtime
from bot.storage.db import session_scope
from commands.base import CommandContext, Subcommand

SEVERITY_ICON = {"P1": ":rotating_light:", "P2": ":red_circle:", "P3": ":large_orange_circle:", "P4": ":white_circle:"}
USAGE = {
    "list": "/ops alert list",
    "ack": "/ops alert ack <id>   (or /ops ack <id>)",
    "resolve": "/ops alert resolve <id>",
    "silence": "/ops alert silence <id> [1h]",
    "escalate": "/ops alert escalate <id> [from <step>]",
}
SILENCE_MAX = timedelta(days=7)


def card(a: AlertRecord, *, now: datetime) -> Reply:
    """The alarm's message: what, how bad, since when, how often, who owns it, and the buttons."""
    state = {"firing": "FIRING", "acknowledged": "ACKNOWLEDGED", "resolved": "RESOLVED"}[a.status]
    icon = ":large_green_circle:" if a.status == "resolved" else SEVERITY_ICON.get(a.severity, ":red_circle:")
    times = f" ×{a.count}" if a.count > 1 else ""
    head = f"{icon} *{a.severity} · {escape(a.title)}* — {state}{times}"
    fields = [f"*Service*\n{escape(a.service) if a.service else '—'}",
              f"*Started*\n{a.first_seen:%Y-%m-%d %H:%M} UTC ({humanize(now - a.first_seen)} ago)",
              f"*Last seen*\n{a.last_seen:%H:%M:%S} UTC", f"*Count*\n{a.count}"]
    if a.reason:
        fields.append(f"*Reason*\n{escape(a.reason[:500])}")
    blocks: list[Section | Actions | Context] = [Section(head, fields=tuple(fields))]
    if a.status != "resolved":
        buttons = [Button("Acknowledge", "alert.ack", str(a.id), Style.PRIMARY)] if a.status == "firing" else []
        buttons += [Button("Resolve", "alert.resolve", str(a.id)), Button("Escalate", "alert.escalate", str(a.id),
                                                                           Style.DANGER),
                    Button("Silence 1h", "alert.silence", str(a.id))]
        blocks.append(Actions(tuple(buttons)))
    blocks.append(Context(_footer(a, now)))
    return Reply(text=f"{a.severity} {state}: {a.title}"[:300], blocks=tuple(blocks), ephemeral=False,
                 card=("alert", str(a.id)))


def storm_card(by_service: Counter[str], by_severity: Counter[str], folded: int) -> Reply:
    """The one message standing for the alerts a storm folded in a channel."""
    live = sum(by_service.values())
    if not live:
        text = f":large_green_circle: *Storm over*: all {folded} folded alert(s) resolved."
        return Reply(text=text, blocks=(Section(text),), ephemeral=False)
    head = (f":rotating_light: *{live} more alert(s) firing in this channel* — folded into this message "
            "to keep the channel readable.")
    severities = ", ".join(f"{k} {v}" for k, v in sorted(by_severity.items()))
    lines = "\n".join(f"• *{escape(service)}*: {count}" for service, count in by_service.most_common(15))
    return Reply(text=f"{live} more alerts firing", ephemeral=False, blocks=(
        Section(head), Section(lines or "—"), Context(f"{severities} · `/ops alert list` shows them all")))


def _footer(a: AlertRecord, now: datetime) -> str:
    parts = [f"alert #{a.id} from {a.source}"]
    if a.runbook_url and a.runbook_url.startswith(("http://", "https://")):
        parts.append(f"<{escape(a.runbook_url)}|Runbook>")
    if a.acknowledged_by and a.status != "resolved":
        parts.append(f"acknowledged by <@{a.acknowledged_by}> at {a.acknowledged_at:%H:%M} UTC")
    if a.resolved_at:
        parts.append(f"resolved by <@{a.resolved_by}> after {humanize(a.resolved_at - a.first_seen)}")
    if a.silenced_until and a.silenced_until > now and a.status != "resolved":
        parts.append(f"silenced until {a.silenced_until:%H:%M} UTC")
    if a.escalated_to and a.status == "firing":
        who = " ".join(f"<@{u}>" for u in a.escalated_to.split())
        parts.append(f"escalated (step {a.escalation_step}) to {who}")
    if a.incident_id:
        parts.append(f"incident #{a.incident_id}")
    return " · ".join(parts)


def load_card(rt: Runtime, key: str) -> Reply:
    with session_scope(rt.sessions) as session:
        return card(service.get(session=session, alert_id=int(key)), now=rt.clock())


def card_location(rt: Runtime, key: str) -> tuple[str, str] | None:
    with session_scope(rt.sessions) as session:
        a = service.get(session=session, alert_id=int(key))
    return (a.slack_channel, a.slack_ts) if a.slack_channel and a.slack_ts else None


def attach_card(rt: Runtime, key: str, channel: str, ts: str) -> None:
    with session_scope(rt.sessions) as session:
        service.attach_message(session=session, alert_id=int(key), channel=channel, ts=ts)


def _id(args: list[str], usage: str) -> int:
    if not args or not args[0].lstrip("#").isdigit() or len(args[0]) > 10:
        raise UsageError("Which alert? Give its number.", usage=usage)
    return int(args[0].lstrip("#"))


def _changed(ctx: CommandContext, verb: str, a: AlertRecord) -> Reply:
    text = f"<@{ctx.user_id}> {verb} alert #{a.id} ({escape(a.title[:80])})."
    return Reply(text=text, blocks=(Section(text),), ephemeral=False, refresh=("alert", str(a.id)))


def run_ack(ctx: CommandContext, args: list[str]) -> Reply:
    alert_id = _id(args, USAGE["ack"])
    with session_scope(ctx.rt.sessions) as session:
        a = service.acknowledge(session=session, alert_id=alert_id, user=ctx.user_id, at=ctx.rt.clock())
    return _changed(ctx, "acknowledged", a)


def run(ctx: CommandContext, args: list[str]) -> Reply:
    if not args:
        raise UsageError("What should I do with alerts?", usage=" | ".join(USAGE.values()))
    verb, rest = args[0].lower(), args[1:]
    if verb == "list":
        return _list(ctx)
    if verb in ("ack", "acknowledge"):
        return run_ack(ctx, rest)
    now, rt = ctx.rt.clock(), ctx.rt
    if verb == "resolve":
        with session_scope(rt.sessions) as session:
            return _changed(ctx, "resolved", service.resolve(session=session, alert_id=_id(rest, USAGE[verb]),
                                                              user=ctx.user_id, at=now))
    if verb == "silence":
        span = _span(rest[1:])
        with session_scope(rt.sessions) as session:
            a = service.silence(session=session, alert_id=_id(rest, USAGE[verb]), user=ctx.user_id, at=now,
                                for_=span)
        return _changed(ctx, f"silenced for {humanize(span)}", a)
    if verb == "escalate":
        from_step = _from_step(rest[1:])
        with session_scope(rt.sessions) as session:
            alert_id = _id(rest, USAGE[verb])
            policy = rt.config.alerts.escalation.get(service.get(session=session, alert_id=alert_id).severity)
            a = service.escalate(session=session, alert_id=alert_id, user=ctx.user_id, at=now, from_step=from_step,
                                 steps=len(policy.steps) if policy else 0)
        text = f":rotating_light: <!here> <@{ctx.user_id}> escalated alert #{a.id}: *{escape(a.title[:80])}*"
        return Reply(text=text, blocks=(Section(text),), ephemeral=False, refresh=("alert", str(a.id)))
    raise UsageError(f"`/ops alert` has no action {code(args[0], 20)}.", usage=" | ".join(USAGE.values()))


def _from_step(args: list[str]) -> int | None:
    if not args:
        return None
    if len(args) != 2 or args[0].lower() != "from" or not args[1].isdigit():
        raise UsageError("To repeat escalation, say `from <step>`.", usage=USAGE["escalate"])
    return int(args[1])


def _span(args: list[str]) -> timedelta:
    if not args:
        return timedelta(hours=1)
    try:
        span: timedelta = parse_duration(args[0])
    except ValueError as exc:
        raise UsageError(str(exc), usage=USAGE["silence"]) from None
    if not timedelta(minutes=1) <= span <= SILENCE_MAX:
        raise UsageError("Silence for between 1m and 7d.", usage=USAGE["silence"])
    return span


def _list(ctx: CommandContext) -> Reply:
    with session_scope(ctx.rt.sessions) as session:
        alerts = service.live(session=session)
    if not alerts:
        return Reply(text="No live alerts. :tada:", blocks=(Section("No live alerts. :tada:"),))
    now = ctx.rt.clock()
    lines = [f"{SEVERITY_ICON.get(a.severity, '')} *#{a.id}* {a.severity} {escape(a.title[:80])} — {a.status}"
             f" ×{a.count}, {humanize(now - a.first_seen)}" for a in alerts]
    return Reply(text="\n".join(lines), blocks=(Section(f"*Live alerts ({len(alerts)})*"), Section("\n".join(lines))))


ACK = Subcommand(name="ack", usage="/ops ack <alert-id>", summary="Acknowledge an alert (you own it now).",
                 run=run_ack)
COMMAND = Subcommand(name="alert", usage="/ops alert list|ack|resolve|silence|escalate …",
                     summary="Act on alarms: list, acknowledge, resolve, silence one alert, escalate.",
                     run=run, more_usage=tuple(USAGE.values()))
