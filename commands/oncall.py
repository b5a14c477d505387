"""/ops oncall — who is on call now and next; `override @user <duration>` covers a shift."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.alerts.oncall import Shift, next_shift, on_call
from bot.clock import humanize
from bot.config import parse_duration
from bot.config.alerts import Rotation
from bot.errors import NotFoundError, UsageError
from bot.reply import Reply, Section, code
from commands.base import CommandContext, Subcommand, parse_flags

USAGE = "/ops oncall [rotation] | /ops oncall override @user <duration> [--rotation <name>]"
MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$|^([UW][A-Z0-9]{2,})$")
OVERRIDE_MAX = timedelta(days=31)


def _rotation(ctx: CommandContext, name: str | None) -> Rotation:
    rotations = ctx.rt.config.oncall.rotations
    if not rotations:
        raise NotFoundError("No on-call rotation is configured: add one under `oncall.rotations` in ops.yaml.")
    if name is None:
        return rotations[0]
    found = next((r for r in rotations if r.name == name.lower()), None)
    if found is None:
        known = ", ".join(f"`{r.name}`" for r in rotations)
        raise NotFoundError(f"There is no rotation {code(name, 30)}. Rotations: {known}.")
    return found


def _when(at: datetime, rotation: Rotation, default_tz: str) -> str:
    zone = rotation.timezone or default_tz
    return f"{at.astimezone(ZoneInfo(zone)):%a %d %b %H:%M} {zone}"


def _line(label: str, shift: Shift, rotation: Rotation, ctx: CommandContext) -> str:
    tz, now = ctx.rt.config.timezone, ctx.rt.clock()
    cover = " (override)" if shift.override else ""
    return (f"*{label}:* <@{shift.user_id}>{cover} until {_when(shift.ends_at, rotation, tz)}"
            f" (in {humanize(shift.ends_at - now)})")


def run(ctx: CommandContext, args: list[str]) -> Reply:
    if args and args[0].lower() == "override":
        return _override(ctx, args[1:])
    if len(args) > 1:
        raise UsageError("Name at most one rotation.")
    rotation = _rotation(ctx, args[0] if args else None)
    now, tz = ctx.rt.clock(), ctx.rt.config.timezone
    known = ctx.rt.oncall.relevant(rotation=rotation.name)
    current = on_call(rotation, known, now, default_tz=tz)
    upcoming = next_shift(rotation, known, now, default_tz=tz)
    text = (f":telephone_receiver: *{rotation.name}* rotation\n{_line('On call now', current, rotation, ctx)}\n"
            f"{_line('Next', upcoming, rotation, ctx)}")
    return Reply(text=text, blocks=(Section(text),))


def _override(ctx: CommandContext, args: list[str]) -> Reply:
    words, _ = parse_flags([a for a in args if a != "--rotation"], flags=())
    rotation_name = None
    if "--rotation" in args:
        i = args.index("--rotation")
        if i + 1 >= len(args):
            raise UsageError("`--rotation` needs a name.", usage=USAGE)
        rotation_name = args[i + 1]
        words = [w for w in words if w != rotation_name]
    if len(words) != 2:
        raise UsageError("Say who covers, and for how long.", usage=USAGE)
    match = MENTION.match(words[0])
    if match is None:
        raise UsageError(f"{code(words[0], 30)} is not a Slack user mention.", usage=USAGE)
    user = match.group(1) or match.group(2)
    try:
        span: timedelta = parse_duration(words[1])
    except (ValueError, OverflowError):
        raise UsageError(f"{code(words[1], 20)} is not a duration: say e.g. 12h or 2d.", usage=USAGE) from None
    if not timedelta(minutes=15) <= span <= OVERRIDE_MAX:
        raise UsageError("An override lasts between 15m and 31d.", usage=USAGE)
    rotation = _rotation(ctx, rotation_name)
    o = ctx.rt.oncall.add(rotation=rotation.name, user_id=user, span=span, created_by=ctx.user_id)
    text = (f":telephone_receiver: <@{user}> is on call for *{rotation.name}* until "
            f"{_when(o.ends_at, rotation, ctx.rt.config.timezone)} (override by <@{ctx.user_id}>).")
    return Reply(text=text, blocks=(Section(text),), ephemeral=False)


COMMAND = Subcommand(name="oncall", usage=USAGE, summary="Who is on call now and next; cover someone's shift.",
                     run=run, more_usage=("/ops oncall [rotation]",
                                          "/ops oncall override @user <duration> [--rotation <name>]"))
