"""A Kubernetes API on loopback (kmock's emulator, a real HTTP server) for the official client, plus seeding.

The emulator has no controllers, so tests create what a controller would: ReplicaSets with revision
annotations and ownerReferences, Pods, Job status. `call()` touches emulator state on its own loop.
kmock serves no pod logs (a GET of `pods/<name>/log` would answer the pod): the `log` subresource is served here
from lines a test writes with `write_log()`, as the API server does: `container` (required when the pod has
several), `sinceSeconds`, `tailLines`, text/plain, and 400 with the server's message for a container that is
not the pod's or has not started.
"""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kmock
import pytest
import yaml
from kubernetes import client

REV = "deployment.kubernetes.io/revision"
LISTABLE = {
    "v1/pods": {"kind": "Pod", "namespaced": True},
    "v1/nodes": {"kind": "Node", "namespaced": False},
    "apps/v1/replicasets": {"kind": "ReplicaSet", "namespaced": True},
    "apps/v1/deployments": {"kind": "Deployment", "namespaced": True},
    "batch/v1/jobs": {"kind": "Job", "namespaced": True},
    "batch/v1/cronjobs": {"kind": "CronJob", "namespaced": True},
    "v1/persistentvolumeclaims": {"kind": "PersistentVolumeClaim", "namespaced": True},
}


class KubeApi:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready, self._stop = threading.Event(), None
        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(self._main()), daemon=True)
        self.url = ""
        self.emulator: Any = None
        self.logs: dict[tuple[str, str, str], list[tuple[float, str]]] = {}    # (ns, pod, container) -> lines
        self.log_reads: list[dict[str, str]] = []                              # the query of each log request
        self.refuse_logs: int | None = None       # set to 401 or 403: log requests are refused (expired token)
        self._logs_lock = threading.Lock()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with kmock.KubernetesEmulator() as emu, kmock.Server(emu) as srv:
            for key, info in LISTABLE.items():
                emu.resources[key] = info
            emu["get", kmock.subresource("log")] << self._serve_log
            self.emulator, self.url = emu, str(srv.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def start(self) -> KubeApi:
        self.thread.start()
        assert self._ready.wait(10), "the Kubernetes emulator did not start"
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(5)

    def call(self, fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)

    # --- pod logs: the kubelet's part -------------------------------------------------------------------
    def write_log(self, ns: str, pod: str, lines: list[str], *, container: str = "app", age_s: float = 0.0) -> None:
        """Append `lines` to a container's log, as written `age_s` seconds ago."""
        at = time.time() - age_s
        with self._logs_lock:
            self.logs.setdefault((ns, pod, container), []).extend((at, line) for line in lines)

    def _serve_log(self, request: kmock.Request) -> kmock.Response:
        ns, name, params = request.namespace, request.name, dict(request.params)
        with self._logs_lock:
            self.log_reads.append({"pod": str(name), **params})
        if self.refuse_logs is not None:
            return _status(self.refuse_logs, "Unauthorized" if self.refuse_logs == 401 else "Forbidden", "refused")
        stored = next((obj for key, obj in self.emulator.objects.items() if key == ("v1/pods", ns, name)), None)
        if stored is None or stored.deleted:
            return _status(404, "NotFound", f'pods "{name}" not found')
        pod = stored.raw
        names = [c["name"] for c in pod.get("spec", {}).get("containers", [])]
        container = params.get("container")
        if container is None:
            if len(names) != 1:
                return _status(400, "BadRequest", f"a container name must be specified for pod {name}, "
                                                  f"choose one of: [{' '.join(names)}]")
            container = names[0]
        if container not in names:
            return _status(400, "BadRequest", f"container {container} is not valid for pod {name}")
        for cs in pod.get("status", {}).get("containerStatuses", []):
            waiting = cs.get("state", {}).get("waiting")
            if cs.get("name") == container and waiting and waiting.get("reason") == "ContainerCreating":
                return _status(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: '
                                                  "ContainerCreating")
        with self._logs_lock:
            lines = list(self.logs.get((str(ns), str(name), container), []))
        if "sinceSeconds" in params:
            lines = [(at, line) for at, line in lines if at >= time.time() - int(params["sinceSeconds"])]
        if "tailLines" in params:
            lines = lines[-int(params["tailLines"]):] if int(params["tailLines"]) else []
        body = "".join(line + "\n" for _, line in lines).encode()
        return kmock.Response(status=200, headers={"Content-Type": "text/plain"}, payload=body)

    def api_client(self) -> client.ApiClient:
        configuration = client.Configuration()
        configuration.host = self.url
        return client.ApiClient(configuration)

    # --- seeding: what controllers would have created ---------------------------------------------
    def put(self, resource: str, ns: str | None, name: str, obj: dict[str, Any]) -> None:
        def _put() -> None:
            self.emulator.objects[resource, ns, name] = obj

        self.call(_put)

    def get(self, resource: str, ns: str | None, name: str) -> dict[str, Any]:
        return self.call(lambda: dict(self.emulator.objects[resource, ns, name]))

    def history(self, resource: str, ns: str | None, name: str) -> list[dict[str, Any]]:
        return self.call(lambda: [dict(v) for v in self.emulator.objects[resource, ns, name].history if v])

    def names(self, resource: str, ns: str | None = None) -> list[str]:
        def _names() -> list[str]:
            return sorted(key[2] for key in self.emulator.objects.keys()
                          if key[0] == resource and (ns is None or key[1] == ns))

        return self.call(_names)

    def seed_deployment(self, name: str = "web", ns: str = "prod", *, revisions: tuple[int, ...] = (1, 2, 3),
                        replicas: int = 3, ready: int = 3) -> None:
        current = max(revisions)
        self.put("apps/v1/deployments", ns, name, {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "annotations": {REV: str(current)}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": _template(name, current)},
            "status": {"replicas": replicas, "readyReplicas": ready, "updatedReplicas": replicas,
                       "availableReplicas": ready},
        })
        for rev in revisions:
            self.put("apps/v1/replicasets", ns, f"{name}-h{rev}", _replicaset(name, ns, rev, owner=name))
        # A look-alike owned by another deployment: the label selector would match it, ownership must not.
        self.put("apps/v1/replicasets", ns, f"{name}-impostor", _replicaset(name, ns, 9, owner=f"{name}-canary"))

    def seed_pod(self, name: str, ns: str, *, owner_rs: str | None = None, waiting: str | None = None,
                 restarts: int = 0, containers: tuple[str, ...] = ("app",), age_s: float | None = None,
                 annotations: dict[str, str] | None = None) -> None:
        """A running pod, ready unless a container is `waiting` (e.g. CrashLoopBackOff); owned by `owner_rs`;
        created `age_s` seconds ago when given."""
        state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
        metadata: dict[str, Any] = {"name": name, "namespace": ns}
        if age_s is not None:
            created = datetime.fromtimestamp(time.time() - age_s, tz=UTC)
            metadata["creationTimestamp"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        if annotations:
            metadata["annotations"] = annotations
        if owner_rs is not None:
            metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner_rs,
                                            "uid": f"uid-{owner_rs}", "controller": True}]
        self.put("v1/pods", ns, name, {
            "apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"containers": [{"name": c, "image": "x"} for c in containers]},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Ready", "status": "False" if waiting else "True"}],
                       "containerStatuses": [{"name": c, "image": "x", "imageID": "", "ready": waiting is None,
                                              "restartCount": restarts, "state": state} for c in containers]},
        })

    def seed_node(self, name: str, *, ready: bool = True) -> None:
        self.put("v1/nodes", None, name, {
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
        })

    def seed_cronjob(self, name: str = "postgres-backup", ns: str = "prod") -> None:
        self.put("batch/v1/cronjobs", ns, name, {
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {
                "metadata": {"labels": {"app": "backup"}},
                "spec": {"backoffLimit": 1, "template": {"spec": {"restartPolicy": "Never", "containers": [
                    {"name": "pg-dump", "image": "postgres:16", "command": ["/backup.sh"]}]}}}}},
        })

    def patch(self, resource: str, ns: str, name: str, changes: dict[str, Any]) -> None:
        """Change an object the way another actor would (merged into the stored object)."""
        def _patch() -> None:
            self.emulator.objects[resource, ns, name].patch(changes)

        self.call(_patch)

    def set_status(self, resource: str, ns: str, name: str, status: dict[str, Any]) -> None:
        """Play the controller: set an object's status."""
        self.patch(resource, ns, name, {"status": status})


def _template(name: str, rev: int) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": name, "image": f"{name}:{rev}"}]}}


def _replicaset(name: str, ns: str, rev: int, *, owner: str) -> dict[str, Any]:
    template = _template(name, rev)
    template["metadata"]["labels"]["pod-template-hash"] = f"h{rev}"
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{name}-h{rev}" if owner == name else f"{name}-impostor", "namespace": ns,
                     "labels": {"app": name, "pod-template-hash": f"h{rev}"}, "annotations": {REV: str(rev)},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner,
                                          "uid": f"uid-{owner}", "controller": True}]},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name, "pod-template-hash": f"h{rev}"}},
                 "template": template},
    }


def _status(code: int, reason: str, message: str) -> kmock.Response:
    """A Kubernetes Status answer, as the API server refuses a request."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    return kmock.Response(status=code, headers={"Content-Type": "application/json"},
                          payload=json.dumps(body).encode())


def closed_port_url() -> str:
    """An http URL on loopback where nothing listens (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def kube() -> Iterator[KubeApi]:
    api = KubeApi().start()
    yield api
    api.stop()


def kubeconfig(tmp_path: Path, server: str) -> str:
    """A kubeconfig file whose context `prod` points the official client at `server` (the emulator)."""
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "prod",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "dummy-token"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "c", "user": "u"}}]}))
    return str(path)
