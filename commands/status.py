"""/ops status — ask every configured source about every service, concurrently, and answer in one message."""
from __future__ import annotations

import time

from bot.errors import NotFoundError, UsageError
from bot.reply import Context, Reply, Section, chunks, code, escape
from commands.base import CommandContext, Subcommand, did_you_mean
from integrations.base import Health
from integrations.status import ServiceState, check_services

ICON = {Health.OK: ":large_green_circle:", Health.DEGRADED: ":large_yellow_circle:",
        Health.DOWN: ":red_circle:", Health.UNKNOWN: ":white_circle:"}
SECTION_CHARS = 2800        # Block Kit section text limit is 3000


def run(ctx: CommandContext, args: list[str]) -> Reply:
    if len(args) > 1:
        raise UsageError("`/ops status` takes at most one service name.")
    sources = ctx.rt.integrations.status_sources
    if not sources:
        return Reply(text="No services are configured yet: add them under `services:` in ops.yaml.",
                     blocks=(Section("No services are configured yet: add them under `services:` in ops.yaml."),))
    if args:
        name = args[0].lower()
        if name not in sources:
            raise NotFoundError(_unknown_service(args[0], list(sources)))
        sources = {name: sources[name]}
    started = time.monotonic()
    states = check_services(sources)
    return render(states, elapsed_s=time.monotonic() - started, ctx=ctx)


def render(states: list[ServiceState], *, elapsed_s: float, ctx: CommandContext) -> Reply:
    order = {s.name: i for i, s in enumerate(states)}
    ranked = sorted(states, key=lambda s: (-s.health.rank, order[s.name]))
    headline = _headline(states)
    lines = [_line(s) for s in ranked]
    blocks: list[Section | Context] = [Section(headline)]
    blocks.extend(Section(chunk) for chunk in chunks(lines, SECTION_CHARS))
    now = ctx.rt.clock()
    blocks.append(Context(f"Checked {len(states)} service(s) in {elapsed_s:.1f}s at {now:%H:%M:%S} UTC"
                          f" for <@{ctx.user_id}> · `/ops status <service>` for one service"))
    fallback = headline + "\n" + "\n".join(lines)
    return Reply(text=fallback[:3000], blocks=tuple(blocks), ephemeral=False)


def _headline(states: list[ServiceState]) -> str:
    counts = {h: sum(1 for s in states if s.health == h) for h in Health}
    worst = max((s.health for s in states), key=lambda h: h.rank)
    if counts[Health.OK] == len(states):
        return f"{ICON[Health.OK]} *All {len(states)} service(s) OK*"
    parts = [f"{counts[h]} {h.value}" for h in (Health.DOWN, Health.DEGRADED, Health.UNKNOWN, Health.OK) if counts[h]]
    return f"{ICON[worst]} *{', '.join(parts)}* of {len(states)} service(s)"


def _line(state: ServiceState) -> str:
    head = f"{ICON[state.health]} *{escape(state.name)}* — {state.health.value}"
    if not state.findings:
        return head + " · no checks configured"
    if len(state.findings) == 1:
        return f"{head} · {escape(state.findings[0].summary)}"
    details = "\n".join(f"      {ICON[f.health]} {f.source}: {escape(f.summary)}" for f in state.findings)
    return f"{head}\n{details}"




def _unknown_service(name: str, known: list[str]) -> str:
    listing = ", ".join(f"`{k}`" for k in known[:20])
    return f"I don't know the service {code(name, 40)}.{did_you_mean(name, known)} Known services: {listing}."


COMMAND = Subcommand(
    name="status",
    usage="/ops status [service]",
    summary="Check every service's health now (or one service).",
    run=run,
    slow=True,
)
