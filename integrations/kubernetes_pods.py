"""Every pod of a namespace (a checklist's `kubernetes_pods`): running or finished, ready, not crash-looping,
not restarting over and over. One list call, with the configured `_request_timeout`."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubernetes import client

from bot.config.checklists import PodsCheck
from integrations.base import Finding, Health
from integrations.kubernetes import BAD_WAITING, _Api

FINE_PHASES = {"Running", "Succeeded"}
NAMED = 5               # pod names per kind of problem in the summary; the rest are counted


class KubernetesPods:
    """StatusSource. Down: a container waiting in CrashLoopBackOff, ImagePullBackOff and the like. Degraded: a
    pod Pending, Failed or Unknown, Running but not Ready, or a container restarted more than `max_restarts`
    times. Pods being deleted are left out (a rollout's old pods stop being ready on their way out)."""

    def __init__(self, cfg: PodsCheck, api: client.ApiClient, *, timeout_s: float) -> None:
        self.cfg, self.k = cfg, _Api(api, timeout_s)
        self.subject = f"pods in {cfg.namespace}"

    @property
    def timeout_s(self) -> float:
        return self.k.timeout_s

    def check(self) -> Sequence[Finding]:
        pods = self.k.call(self.subject, self.k.core.list_namespaced_pod, self.cfg.namespace).items
        pods = [p for p in pods if p.metadata.deletion_timestamp is None]
        if not pods:
            return [Finding("kubernetes", self.subject, Health.DEGRADED,
                            f"no pods in namespace {self.cfg.namespace} (is the name right?)")]
        failing, unwell, restarting = [], [], []
        for pod in pods:
            crash = _waiting_reason(pod)
            if crash is not None:
                failing.append(f"{pod.metadata.name} ({crash})")
            elif (problem := _phase_problem(pod)) is not None:
                unwell.append(f"{pod.metadata.name} ({problem})")
            restarts = max((cs.restart_count or 0 for cs in _containers(pod)), default=0)
            if restarts > self.cfg.max_restarts and crash is None:
                restarting.append(f"{pod.metadata.name} ({restarts} restarts)")
        if not failing and not unwell and not restarting:
            return [Finding("kubernetes", self.subject, Health.OK, f"{len(pods)}/{len(pods)} pods healthy")]
        parts = [_listed(names, label) for names, label in
                 ((failing, "failing"), (unwell, "not ready"), (restarting, "restarting")) if names]
        health = Health.DOWN if failing else Health.DEGRADED
        return [Finding("kubernetes", self.subject, health, f"of {len(pods)} pods, " + "; ".join(parts))]


def _containers(pod: Any) -> list[Any]:
    status = pod.status
    if status is None:
        return []
    return [*(status.init_container_statuses or []), *(status.container_statuses or [])]


def _waiting_reason(pod: Any) -> str | None:
    """The reason a container of the pod cannot run (CrashLoopBackOff, ImagePullBackOff, ...), if any."""
    for cs in _containers(pod):
        waiting = cs.state.waiting if cs.state else None
        if waiting is not None and waiting.reason in BAD_WAITING:
            return str(waiting.reason)
    return None


def _phase_problem(pod: Any) -> str | None:
    """Why a pod that is not crash-looping is still not well: its phase, or not Ready while Running."""
    status = pod.status
    phase = (status.phase if status else None) or "Unknown"
    if phase not in FINE_PHASES:
        reason = status.reason if status else None
        return f"{phase}: {reason}" if reason else phase
    if phase == "Running" and not _ready(pod):
        return "Running, not Ready"
    return None


def _ready(pod: Any) -> bool:
    conditions = pod.status.conditions if pod.status else None
    return any(c.type == "Ready" and c.status == "True" for c in conditions or [])


def _listed(names: list[str], label: str) -> str:
    shown = ", ".join(names[:NAMED]) + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")
    return f"{len(names)} {label}: {shown}"
