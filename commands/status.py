"""/ops status — ask every configured source about every service, concurrently, and answer in one message."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.errors import NotFoundError, UsageError, new_ref
from bot.reply import Context, Reply, Section, code, escape
from commands.base import CommandContext, Subcommand, did_you_mean
from integrations.base import AdapterError, Finding, Health, StatusSource
from integrations.fanout import Late, gather

log = logging.getLogger(__name__)
ICON = {Health.OK: ":large_green_circle:", Health.DEGRADED: ":large_yellow_circle:",
        Health.DOWN: ":red_circle:", Health.UNKNOWN: ":white_circle:"}
DEADLINE_SLACK_S = 1.0      # beyond the slowest per-check timeout, before we stop waiting
SECTION_CHARS = 2800        # Block Kit section text limit is 3000


@dataclass(frozen=True, slots=True)
class ServiceState:
    name: str
    findings: tuple[Finding, ...]

    @property
    def health(self) -> Health:
        if not self.findings:
            return Health.UNKNOWN
        return max((f.health for f in self.findings), key=lambda h: h.rank)


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


def check_services(sources: Mapping[str, tuple[StatusSource, ...]]) -> list[ServiceState]:
    """Run every source of every service at once; a failing or slow source never hides the others."""
    calls: dict[str, Callable[[], Sequence[Finding]]] = {}
    deadline = DEADLINE_SLACK_S
    for service, service_sources in sources.items():
        for i, source in enumerate(service_sources):
            calls[f"{service}\0{i}"] = source.check
            deadline = max(deadline, source.timeout_s + DEADLINE_SLACK_S)
    results = gather(calls, deadline_s=deadline)
    states = []
    for service, service_sources in sources.items():
        findings: list[Finding] = []
        for i in range(len(service_sources)):
            findings.extend(_as_findings(results[f"{service}\0{i}"], service))
        states.append(ServiceState(service, tuple(findings)))
    return states


def _as_findings(result: object, service: str) -> Sequence[Finding]:
    if isinstance(result, Late):
        return [Finding("check", service, Health.UNKNOWN, f"no answer within {result.after_s:.0f}s")]
    if isinstance(result, AdapterError):
        return [Finding("check", service, Health.UNKNOWN, str(result))]
    if isinstance(result, BaseException):
        ref = new_ref()
        log.error("status check crashed: ref=%s service=%s", ref, service, exc_info=result)
        return [Finding("check", service, Health.UNKNOWN, f"the check itself failed (ref `{ref}`)")]
    return result  # type: ignore[return-value]


def render(states: list[ServiceState], *, elapsed_s: float, ctx: CommandContext) -> Reply:
    order = {s.name: i for i, s in enumerate(states)}
    ranked = sorted(states, key=lambda s: (-s.health.rank, order[s.name]))
    headline = _headline(states)
    lines = [_line(s) for s in ranked]
    blocks: list[Section | Context] = [Section(headline)]
    blocks.extend(Section(chunk) for chunk in _chunks(lines))
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


def _chunks(lines: list[str]) -> list[str]:
    chunks, current = [], ""
    for line in lines:
        if current and len(current) + 1 + len(line) > SECTION_CHARS:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line[:SECTION_CHARS]
    if current:
        chunks.append(current)
    return chunks


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
