"""Kubernetes through the official client: deployment status, rollback like `kubectl rollout undo`, restart
like `kubectl rollout restart`, scale, node readiness, and backups run as Jobs from a CronJob.

Writes are JSON patches (never PUT), and ownership is read from ownerReferences rather than label
selectors, so the same code behaves alike on a real API server and on an emulator. Every call carries
`_request_timeout`; API errors become our AdapterError family here and nowhere else.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC
from typing import Any

import urllib3
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from bot.clock import Clock, humanize, utcnow
from bot.config import services as cfgs
from integrations.base import (
    AccessDeniedError,
    AdapterError,
    Finding,
    Health,
    NotPossibleError,
    Outcome,
    Progress,
    RestartPlan,
    RollbackPlan,
    ScalePlan,
    TargetNotFoundError,
    ThrottledError,
    UnreachableError,
)
from integrations.polling import Poller

REVISION = "deployment.kubernetes.io/revision"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"     # the pod-template annotation `kubectl rollout restart` sets
BAD_WAITING = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
               "CreateContainerError", "RunContainerError"}
Sleep = Callable[[float], None]
Monotonic = Callable[[], float]


def make_api_client(settings: cfgs.KubernetesSettings) -> client.ApiClient:
    """An ApiClient for the configured cluster; AdapterError (not a traceback) when it cannot be set up."""
    try:
        if settings.in_cluster:
            configuration = client.Configuration()
            kube_config.load_incluster_config(client_configuration=configuration)
        else:
            configuration = client.Configuration()
            kube_config.load_kube_config(config_file=settings.kubeconfig, context=settings.context,
                                         client_configuration=configuration)
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        where = "in-cluster service account" if settings.in_cluster else (settings.kubeconfig or "kubeconfig")
        raise AccessDeniedError(f"kubernetes: cannot load {where} ({str(exc)[:120]})") from exc
    # urllib3 would retry a dead connection three times, each up to the timeout: once is enough.
    configuration.retries = urllib3.Retry(total=1, connect=1, read=0, redirect=0)
    return client.ApiClient(configuration)


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except ApiException as exc:
        if exc.status in (401, 403):
            raise AccessDeniedError(f"{what}: access denied by the cluster ({exc.status} {exc.reason})") from exc
        if exc.status == 404:
            raise TargetNotFoundError(f"{what}: not found") from exc
        if exc.status == 429:
            raise ThrottledError(f"{what}: the cluster is rate-limiting our requests; try again in a minute") from exc
        if exc.status == 0:
            raise UnreachableError(f"{what}: cluster did not answer ({exc.reason})") from exc
        raise AdapterError(f"{what}: Kubernetes API answered {exc.status} {exc.reason}") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise UnreachableError(f"{what}: cluster did not answer ({_cause(exc)})") from exc


def _cause(exc: BaseException) -> str:
    """The useful part of a urllib3 failure: refused, timed out, name not resolved, TLS."""
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        text = str(reason).lower()
        if "refused" in text:
            return "connection refused"
        if "name" in text and ("resolve" in text or "known" in text):
            return "host name does not resolve"
        return "cannot connect"
    if isinstance(reason, urllib3.exceptions.TimeoutError | TimeoutError):
        return "timed out"
    if isinstance(reason, urllib3.exceptions.SSLError):
        return "TLS handshake failed"
    return type(reason).__name__


def _owned_by(obj: Any, kind: str, name: str, uid: str | None = None) -> bool:
    for ref in obj.metadata.owner_references or []:
        if ref.kind == kind and ref.name == name and (uid is None or ref.uid is None or ref.uid == uid):
            return True
    return False


def _revision(obj: Any) -> int:
    try:
        return int((obj.metadata.annotations or {}).get(REVISION, 0))
    except ValueError:
        return 0


def _images(template: Any) -> str:
    return ", ".join(c.image for c in (template.spec.containers or [])) or "no containers"


class _Api:
    """The client calls we make, each with the configured timeout and translated errors."""

    def __init__(self, api: client.ApiClient, timeout_s: float) -> None:
        self.api = api
        self.apps, self.core, self.batch = client.AppsV1Api(api), client.CoreV1Api(api), client.BatchV1Api(api)
        self.timeout = (min(timeout_s, 3.0), timeout_s)
        self.timeout_s = timeout_s

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with _translated(what):
            return fn(*args, _request_timeout=self.timeout, **kwargs)


class KubernetesDeployment:
    """A Deployment: StatusSource, RollbackTarget, ScaleTarget and RestartTarget."""

    def __init__(self, cfg: cfgs.KubernetesDeploymentConfig, api: client.ApiClient, *, timeout_s: float,
                 poll_interval_s: float = 2.0, sleep: Sleep = time.sleep,
                 monotonic: Monotonic = time.monotonic, clock: Clock = utcnow) -> None:
        self.cfg, self.k = cfg, _Api(api, timeout_s)
        self.poll_interval_s, self.sleep, self.monotonic, self.clock = poll_interval_s, sleep, monotonic, clock
        self.subject = f"deployment/{cfg.deployment} in {cfg.namespace}"

    @property
    def timeout_s(self) -> float:
        return self.k.timeout_s * 3          # deployment, replicasets and pods are read one after another

    def _read(self) -> Any:
        return self.k.call(self.subject, self.k.apps.read_namespaced_deployment, self.cfg.deployment,
                           self.cfg.namespace)

    def _replicasets(self, dep: Any) -> list[Any]:
        items = self.k.call(self.subject, self.k.apps.list_namespaced_replica_set, self.cfg.namespace).items
        return [rs for rs in items if _owned_by(rs, "Deployment", self.cfg.deployment, dep.metadata.uid)]

    # --- status ---------------------------------------------------------------------------------
    def check(self) -> Sequence[Finding]:
        dep = self._read()
        desired, status = dep.spec.replicas if dep.spec.replicas is not None else 1, dep.status
        ready = (status.ready_replicas or 0) if status else 0
        updated = (status.updated_replicas or 0) if status else 0
        health = Health.OK if ready >= desired else (Health.DOWN if ready == 0 and desired > 0 else Health.DEGRADED)
        summary = f"{ready}/{desired} ready" + (" (rollout in progress)" if updated < desired else "")
        findings = [Finding("kubernetes", self.subject, health, summary)]
        pods = self._pod_problems(dep)
        if pods is not None:
            findings.append(pods)
        return findings

    def _pod_problems(self, dep: Any) -> Finding | None:
        owners = {rs.metadata.name for rs in self._replicasets(dep)}
        pods = self.k.call(self.subject, self.k.core.list_namespaced_pod, self.cfg.namespace).items
        crashing, restarting = [], []
        for pod in pods:
            if not any(_owned_by(pod, "ReplicaSet", name) for name in owners):
                continue
            for cs in (pod.status.container_statuses or []) if pod.status else []:
                waiting = cs.state.waiting if cs.state else None
                if waiting is not None and waiting.reason in BAD_WAITING:
                    crashing.append(f"{pod.metadata.name} ({waiting.reason})")
                elif (cs.restart_count or 0) > self.cfg.max_restarts:
                    restarting.append(f"{pod.metadata.name} ({cs.restart_count} restarts)")
        if not crashing and not restarting:
            return None
        parts = ([f"{len(crashing)} pod(s) failing: " + ", ".join(crashing[:3])] if crashing else []) + \
                ([f"{len(restarting)} pod(s) restarting: " + ", ".join(restarting[:3])] if restarting else [])
        return Finding("kubernetes", f"pods of {self.subject}",
                       Health.DEGRADED, "; ".join(parts))

    # --- rollback -------------------------------------------------------------------------------
    def plan_rollback(self, *, to: str | None = None) -> RollbackPlan:
        dep = self._read()
        by_rev = {_revision(rs): rs for rs in self._replicasets(dep) if _revision(rs) > 0}
        current = _revision(dep) or max(by_rev, default=0)
        if to is not None:
            if not to.isdigit() or int(to) not in by_rev:
                known = ", ".join(str(r) for r in sorted(by_rev)) or "none"
                raise TargetNotFoundError(f"{self.subject}: no revision {to[:20]} (known revisions: {known})")
            target = int(to)
            if target == current:
                raise NotPossibleError(f"{self.subject} is already at revision {current}")
        else:
            earlier = [r for r in by_rev if r < current]
            if not earlier:
                raise NotPossibleError(f"{self.subject}: no earlier revision to roll back to (now at {current})")
            target = max(earlier)
        return RollbackPlan(target=self.subject, current=f"revision {current} ({_images(dep.spec.template)})",
                            desired=f"revision {target} ({_images(by_rev[target].spec.template)})",
                            from_ref=str(current), to_ref=str(target))

    def rollback(self, plan: RollbackPlan, *, progress: Progress) -> Outcome:
        dep = self._read()
        by_rev = {_revision(rs): rs for rs in self._replicasets(dep) if _revision(rs) > 0}
        now = _revision(dep) or max(by_rev, default=0)
        if str(now) != plan.from_ref:
            return Outcome(False, f"{self.subject} changed since the plan (now revision {now}); nothing was done. "
                                  "Ask again to see the new plan.")
        source = by_rev.get(int(plan.to_ref))
        if source is None:
            return Outcome(False, f"revision {plan.to_ref} disappeared; nothing was done")
        template = self.k.api.sanitize_for_serialization(source.spec.template)
        template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
        annotations = dict(dep.metadata.annotations or {})
        annotations[REVISION] = str(max(by_rev) + 1)
        patch = [{"op": "replace", "path": "/spec/template", "value": template},
                 {"op": "add", "path": "/metadata/annotations", "value": annotations}]
        self.k.call(self.subject, self.k.apps.patch_namespaced_deployment, self.cfg.deployment,
                    self.cfg.namespace, patch)
        progress(f"Patched {self.subject} to the template of revision {plan.to_ref}; "
                 "waiting for the rollout…")
        ok, state = self._wait_rolled_out(progress)
        images = _images(source.spec.template)
        return Outcome(ok, f"rollout finished: {state} (image {images})" if ok else state)

    # --- scale ----------------------------------------------------------------------------------
    def plan_scale(self, *, replicas: int) -> ScalePlan:
        if not 0 <= replicas <= 1000:
            raise NotPossibleError(f"{replicas} replicas is out of range (0–1000)")
        dep = self._read()
        current = dep.spec.replicas if dep.spec.replicas is not None else 1
        if current == replicas:
            raise NotPossibleError(f"{self.subject} already has {replicas} replicas")
        return ScalePlan(target=self.subject, current=f"{current} replicas", desired=f"{replicas} replicas",
                         from_replicas=current, replicas=replicas)

    def scale(self, plan: ScalePlan, *, progress: Progress) -> Outcome:
        patch = [{"op": "replace", "path": "/spec/replicas", "value": plan.replicas}]
        self.k.call(self.subject, self.k.apps.patch_namespaced_deployment, self.cfg.deployment,
                    self.cfg.namespace, patch)
        progress(f"Set {self.subject} to {plan.replicas} replicas; waiting for them…")
        ok, state = self._wait_rolled_out(progress)
        return Outcome(ok, f"scaled: {state}" if ok else state)

    # --- restart --------------------------------------------------------------------------------
    def plan_restart(self) -> RestartPlan:
        dep = self._read()
        if dep.spec.paused:
            raise NotPossibleError(f"{self.subject} is paused: resume the rollout first (kubectl rollout resume)")
        desired = dep.spec.replicas if dep.spec.replicas is not None else 1
        ready = (dep.status.ready_replicas or 0) if dep.status else 0
        last = _restarted_at(dep)
        return RestartPlan(target=self.subject,
                           current=f"{ready}/{desired} ready ({_images(dep.spec.template)}), last restarted "
                                   f"{last or 'never'}",
                           desired="every pod replaced, as kubectl rollout restart does (same image)",
                           from_ref=last)

    def restart(self, plan: RestartPlan, *, progress: Progress) -> Outcome:
        dep = self._read()
        last = _restarted_at(dep)
        if last != plan.from_ref:
            return Outcome(False, f"{self.subject} was restarted again since the plan (at {last}); nothing was done")
        at = self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")     # RFC 3339, as kubectl writes it
        # JSON patch: add the key to the template's annotations, or the annotations with the key if there are none.
        patch: list[dict[str, Any]]
        if (dep.spec.template.metadata and dep.spec.template.metadata.annotations) is not None:
            patch = [{"op": "add", "path": "/spec/template/metadata/annotations/" + _pointer(RESTARTED_AT),
                      "value": at}]
        else:
            patch = [{"op": "add", "path": "/spec/template/metadata/annotations", "value": {RESTARTED_AT: at}}]
        self.k.call(self.subject, self.k.apps.patch_namespaced_deployment, self.cfg.deployment,
                    self.cfg.namespace, patch)
        progress(f"Set {RESTARTED_AT}={at} on {self.subject}; waiting for the new pods…")
        ok, state = self._wait_rolled_out(progress)
        return Outcome(ok, f"restarted at {at}: {state}" if ok else state,
                       {"deployment": self.cfg.deployment, "namespace": self.cfg.namespace, "restartedAt": at})

    def _wait_rolled_out(self, progress: Progress) -> tuple[bool, str]:
        """Poll until every replica is updated, ready and available, or the rollout timeout passes."""
        seen: list[str] = []                       # rollout states, for progress lines and the timeout message

        def finished() -> tuple[bool, str] | None:
            dep = self._read()
            desired, st = dep.spec.replicas if dep.spec.replicas is not None else 1, dep.status
            ready = (st.ready_replicas or 0) if st else 0
            state = f"{ready}/{desired} ready"
            generation, observed = dep.metadata.generation, st.observed_generation if st else None
            caught_up = generation is None or (observed is not None and observed >= generation)
            if caught_up and st and all((v or 0) == desired for v in
                                        (st.updated_replicas, st.ready_replicas, st.available_replicas)):
                return True, state
            if desired == 0 and caught_up and ready == 0:
                return True, state
            if _stuck(dep):
                return False, f"rollout stuck (ProgressDeadlineExceeded): {state}"
            if not seen or seen[-1] != state:
                progress(f"…{state}")
            seen.append(state)
            return None

        result = self._poller().until(finished, timeout_s=self.cfg.rollout_timeout.total_seconds())
        if result is None:
            return False, f"rollout did not finish within {humanize(self.cfg.rollout_timeout)}: {seen[-1]}"
        return result

    def _poller(self) -> Poller:
        return Poller(interval_s=self.poll_interval_s, sleep=self.sleep, monotonic=self.monotonic)


def _restarted_at(dep: Any) -> str:
    metadata = dep.spec.template.metadata
    return str(((metadata.annotations if metadata else None) or {}).get(RESTARTED_AT, ""))


def _pointer(key: str) -> str:
    """`key` as one JSON Pointer segment (RFC 6901: `~` -> `~0`, `/` -> `~1`)."""
    return key.replace("~", "~0").replace("/", "~1")


def _stuck(dep: Any) -> bool:
    """The controller gave up on this rollout (and has seen our change: an old verdict does not count)."""
    st = dep.status
    if st is None or (dep.metadata.generation is not None and (st.observed_generation or 0) < dep.metadata.generation):
        return False
    return any(c.type == "Progressing" and c.status == "False" and c.reason == "ProgressDeadlineExceeded"
               for c in st.conditions or [])


class KubernetesNodes:
    """Node readiness for the whole cluster."""

    def __init__(self, api: client.ApiClient, *, timeout_s: float) -> None:
        self.k = _Api(api, timeout_s)

    @property
    def timeout_s(self) -> float:
        return self.k.timeout_s

    def check(self) -> Sequence[Finding]:
        nodes = self.k.call("nodes", self.k.core.list_node).items
        not_ready = [n.metadata.name for n in nodes if not _node_ready(n)]
        total = len(nodes)
        if not total:
            return [Finding("kubernetes", "nodes", Health.UNKNOWN, "the cluster lists no nodes")]
        health = Health.OK if not not_ready else (Health.DOWN if len(not_ready) == total else Health.DEGRADED)
        summary = f"{total - len(not_ready)}/{total} nodes Ready"
        if not_ready:
            summary += "; NotReady: " + ", ".join(not_ready[:5])
        return [Finding("kubernetes", "nodes", health, summary)]


def _node_ready(node: Any) -> bool:
    conditions = node.status.conditions if node.status else None
    return any(c.type == "Ready" and c.status == "True" for c in conditions or [])


def _true(condition: Any) -> bool:
    return condition is not None and condition.status == "True"
