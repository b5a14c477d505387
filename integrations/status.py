"""Asking every status source of several services at once, under one deadline (shared by /ops status and
the checklists)."""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.errors import new_ref
from integrations.base import AdapterError, Finding, Health, StatusSource
from integrations.fanout import Late, gather

log = logging.getLogger(__name__)
DEADLINE_SLACK_S = 1.0      # beyond the slowest per-check timeout, before we stop waiting


@dataclass(frozen=True, slots=True)
class ServiceState:
    name: str
    findings: tuple[Finding, ...]

    @property
    def health(self) -> Health:
        if not self.findings:
            return Health.UNKNOWN
        return max((f.health for f in self.findings), key=lambda h: h.rank)


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
