"""/ops maintenance — start, end and list maintenance windows (bot.alerts.maintenance does the work)."""
from __future__ import annotations

from datetime import datetime, timedelta

from bot.alerts.maintenance import ALL, Window
from bot.clock import humanize
from bot.config import parse_duration
from bot.config.maintenance import MAX_DURATION, MIN_DURATION, REASON_MAX, ScheduledWindow
from bot.errors import NotFoundError, UsageError
from bot.reply import Context, Reply, Section, code, escape
from commands.base import CommandContext, Subcommand, did_you_mean

USAGE = {
    "start": "/ops maintenance start <service|all> <duration> [reason]",
    "end": "/ops maintenance end <service|all>",
    "list": "/ops maintenance list",
}
ALL_WORD = "all"


def run(ctx: CommandContext, args: list[str]) -> Reply:
    if not args:
        return _list(ctx, [])
    verb, rest = args[0].lower(), args[1:]
    handler = {"start": _start, "end": _end, "stop": _end, "list": _list}.get(verb)
    if handler is None:
        raise UsageError(f"`/ops maintenance` has no action {code(args[0], 30)}.", usage=" | ".join(USAGE.values()))
    return handler(ctx, rest)


def _services(ctx: CommandContext, word: str, usage: str) -> tuple[str, ...]:
    """The services named (`api` or `api,worker`); empty for `all`."""
    if word.lower() == ALL_WORD:
        return ()
    known = [s.name for s in ctx.rt.config.services]
    names = tuple(dict.fromkeys(n.strip().lower() for n in word.split(",") if n.strip()))
    if not names:
        raise UsageError("Which service? Name one, or say `all`.", usage=usage)
    for name in names:
        if name not in known:
            listing = ", ".join(f"`{k}`" for k in known[:20]) or "none configured"
            raise NotFoundError(f"I don't know the service {code(name, 40)}.{did_you_mean(name, known)} "
                                f"Known services: {listing} (or `all`).")
    return names


def _duration(word: str) -> timedelta:
    try:
        span: timedelta = parse_duration(word)
    except (ValueError, OverflowError):
        raise UsageError(f"{code(word, 20)} is not a duration: say e.g. 30m, 2h or 1d.", usage=USAGE["start"]) \
            from None
    if not isinstance(span, timedelta) or not MIN_DURATION <= span <= MAX_DURATION:
        raise UsageError(f"A window lasts between {humanize(MIN_DURATION)} and {humanize(MAX_DURATION)}.",
                         usage=USAGE["start"])
    return span


def _start(ctx: CommandContext, args: list[str]) -> Reply:
    usage = USAGE["start"]
    if len(args) < 2:
        raise UsageError("Say which service (or `all`) and for how long, e.g. `/ops maintenance start api 2h "
                         "database upgrade`.", usage=usage)
    services = _services(ctx, args[0], usage)
    span = _duration(args[1])
    reason = " ".join(args[2:]).strip() or None
    if reason is not None and len(reason) > REASON_MAX:
        raise UsageError(f"The reason is {len(reason)} characters; keep it under {REASON_MAX}.", usage=usage)
    window = ctx.rt.maintenance.start(services=services, duration=span, reason=reason, user=ctx.user_id)
    text = (f":construction: Maintenance #{window.id} on *{escape(window.label)}* started, until "
            f"{ctx.rt.maintenance.when(window.ends_at)} ({humanize(span)}). Its alerts are held back and their "
            f"escalation pauses; it is announced in {_channel(window.channel)}.")
    return Reply(text=text, blocks=(Section(text),))


def _end(ctx: CommandContext, args: list[str]) -> Reply:
    if len(args) != 1:
        raise UsageError("Say which service's window to end, or `all`.", usage=USAGE["end"])
    services = _services(ctx, args[0], USAGE["end"])
    if len(services) > 1:
        raise UsageError("End one service's window at a time, or `all`.", usage=USAGE["end"])
    closed = ctx.rt.maintenance.end(target=services[0] if services else ALL, user=ctx.user_id)
    lines = [f"#{w.id} on *{escape(w.label)}* ({w.held or 0} held, {w.firing or 0} still firing)" for w in closed]
    text = ":white_check_mark: Ended maintenance " + "; ".join(lines) + \
        f". The summary goes to {_channel(closed[0].channel)}."
    return Reply(text=text, blocks=(Section(text),))


def _list(ctx: CommandContext, args: list[str]) -> Reply:
    if args:
        raise UsageError("`list` takes nothing after it.", usage=USAGE["list"])
    m = ctx.rt.maintenance
    view = m.overview()
    blocks: list[Section | Context] = []
    if view.open:
        lines = [f":construction: {_ref(w)} *{escape(w.label)}* until {m.when(w.ends_at, w)} · {held} held so far"
                 f"{_started(w)}{_reason(w)}" for w, held in view.open]
        blocks.append(Section("*In maintenance now*\n" + "\n".join(lines)))
    else:
        blocks.append(Section("Nothing is in maintenance now."))
    if view.upcoming:
        lines = [_scheduled(ctx, spec, at) for spec, at in view.upcoming]
        blocks.append(Section("*Scheduled*\n" + "\n".join(lines)))
    if view.recent:
        lines = [f"#{w.id} {escape(w.label)} · ended {m.when(w.closed_at or w.ends_at, w)} · {w.held or 0} held, "
                 f"{w.firing or 0} still firing then" for w in view.recent]
        blocks.append(Context("Recently ended: " + " | ".join(lines)))
    text = "\n".join(b.text for b in blocks)
    return Reply(text=text[:3000], blocks=tuple(blocks))


def _scheduled(ctx: CommandContext, spec: ScheduledWindow, at: datetime) -> str:
    m = ctx.rt.maintenance
    zone = m.calendar.zone(spec)
    services = "all services" if spec.all_services else ", ".join(spec.services)
    name = f"`{escape(spec.name)}` " if spec.name else ""
    return (f":calendar: {name}*{escape(services)}* next at {m.when(at, zone=zone)} for {humanize(spec.duration)} "
            f"(`{escape(spec.schedule)}`, {zone}){' — ' + escape(spec.reason) if spec.reason else ''}")


def _ref(window: Window) -> str:
    return f"#{window.id}" if window.id else "(scheduled)"


def _started(window: Window) -> str:
    if window.scheduled:
        return f" · scheduled `{escape(window.name)}`" if window.name else " · scheduled"
    return f" · started by <@{window.started_by}>"


def _reason(window: Window) -> str:
    return f" — {escape(window.reason)}" if window.reason else ""


def _channel(channel: str) -> str:
    return channel if channel.startswith("#") else f"<#{channel}>"


COMMAND = Subcommand(
    name="maintenance",
    usage="/ops maintenance start|end|list …",
    summary="Maintenance windows: hold a service's alerts back and pause its escalation for a while.",
    run=run,
    more_usage=tuple(USAGE.values()),
)
