"""The logs of a Deployment's pods (`/ops logs` on a service with `kubernetes:`), as `kubectl logs` reads them.

The pods are the ones owned by the Deployment's ReplicaSets (ownerReferences, as everywhere in this package),
newest first. Each pod's log is one `read_namespaced_pod_log` call with `since_seconds` and `tail_lines`,
read concurrently through `integrations.fanout` under the configured timeout.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.config.services import KubernetesDeploymentConfig
from integrations.base import (
    AccessDeniedError,
    AdapterError,
    LogLine,
    LogReading,
    LogRequest,
    LogStream,
    TemporaryAdapterError,
    UnreachableError,
)
from integrations.fanout import Late, gather
from integrations.kubernetes import _Api, _owned_by, _translated

MAX_PODS = 10                       # the newest pods read; the rest are counted in a note
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"   # what `kubectl logs` reads when none is named
_OLDEST = datetime.min


class KubernetesPodLogs:
    """LogSource for a Deployment's pods. A pod whose log cannot be read (still starting, no such container)
    gets a note; the cluster refusing us or not answering fails the whole reading."""

    def __init__(self, cfg: KubernetesDeploymentConfig, api: client.ApiClient, *, timeout_s: float) -> None:
        self.cfg, self.k = cfg, _Api(api, timeout_s)
        self.subject = f"deployment/{cfg.deployment} in {cfg.namespace}"

    def read_logs(self, request: LogRequest) -> LogReading:
        pods = self._pods()
        subject = f"pods of {self.subject}"
        if not pods:
            return LogReading(subject, (), (f"{self.subject} has no pods.",))
        shown = pods[:MAX_PODS]
        calls: dict[str, Callable[[], LogStream]] = {pod.metadata.name: partial(self._read, pod, request)
                                                     for pod in shown}
        results = gather(calls, deadline_s=self.k.timeout_s + 1.0)
        streams = [self._stream(name, result) for name, result in results.items()]
        notes = (f"showing the {len(shown)} newest of {len(pods)} pods",) if len(pods) > len(shown) else ()
        return LogReading(subject, tuple(streams), notes)

    def _pods(self) -> list[Any]:
        """The Deployment's pods that are not being deleted, newest first."""
        dep = self.k.call(self.subject, self.k.apps.read_namespaced_deployment, self.cfg.deployment,
                          self.cfg.namespace)
        sets = self.k.call(self.subject, self.k.apps.list_namespaced_replica_set, self.cfg.namespace).items
        owners = {rs.metadata.name for rs in sets if _owned_by(rs, "Deployment", self.cfg.deployment, dep.metadata.uid)}
        pods = self.k.call(self.subject, self.k.core.list_namespaced_pod, self.cfg.namespace).items
        mine = [p for p in pods if p.metadata.deletion_timestamp is None
                and any(_owned_by(p, "ReplicaSet", name) for name in owners)]
        return sorted(mine, key=_started, reverse=True)

    def _read(self, pod: Any, request: LogRequest) -> LogStream:
        name = pod.metadata.name
        container, note = _container(pod, request.container)
        if container is None:
            return LogStream(name, (), note)
        kwargs: dict[str, Any] = {"container": container, "tail_lines": request.lines,
                                  "since_seconds": max(int(request.since.total_seconds()), 1)}
        try:
            text = self.k.core.read_namespaced_pod_log(name, self.cfg.namespace, _request_timeout=self.k.timeout,
                                                       **kwargs)
        except ApiException as exc:
            if exc.status == 400:       # the API server's own words: "container app is waiting to start: …"
                return LogStream(name, (), _refusal(exc))
            with _translated(f"the log of pod {name}"):
                raise
        lines = tuple(LogLine(name, line) for line in str(text or "").splitlines())
        return LogStream(name, lines, note)

    @staticmethod
    def _stream(name: str, result: LogStream | BaseException | Late) -> LogStream:
        if isinstance(result, LogStream):
            return result
        if isinstance(result, Late):
            raise UnreachableError(f"the log of pod {name}: no answer within {result.after_s:.0f}s")
        if isinstance(result, TemporaryAdapterError | AccessDeniedError):
            raise result                # the cluster, not this pod: nothing else would be read either
        if isinstance(result, AdapterError):
            return LogStream(name, (), f"could not be read ({_short(str(result))})")
        raise result


def _started(pod: Any) -> datetime:
    """When a pod was created (its start time when the creation time is missing), naive UTC for sorting."""
    at = pod.metadata.creation_timestamp or (pod.status.start_time if pod.status else None)
    return at.replace(tzinfo=None) if isinstance(at, datetime) else _OLDEST


def _container(pod: Any, wanted: str | None) -> tuple[str | None, str | None]:
    """The container to read and a note: the one asked for, or as `kubectl logs` picks it (the only one, the
    default-container annotation, else the first, saying so)."""
    names = [c.name for c in (pod.spec.containers or [])] if pod.spec else []
    if wanted is not None:
        if wanted in names:
            return wanted, None
        return None, f"has no container {wanted!r} (it has {', '.join(names) or 'none'})"
    if not names:
        return None, "has no containers"
    if len(names) == 1:
        return names[0], None
    default = (pod.metadata.annotations or {}).get(DEFAULT_CONTAINER)
    chosen = default if default in names else names[0]
    return chosen, f"container {chosen} (of {', '.join(names)}; pick one with --container)"


def _refusal(exc: ApiException) -> str:
    """The message of a 400 answer to a log read (a Status object), shortened; its reason when there is none."""
    try:
        message = str(json.loads(exc.body or "{}").get("message") or "")
    except (ValueError, AttributeError):
        message = ""
    return (message or f"Kubernetes API answered {exc.status} {exc.reason}")[:160]


def _short(message: str) -> str:
    return message.split(": ", 1)[-1][:120]
