"""A Kubernetes API on loopback (kmock's emulator, a real HTTP server) for the official client, plus seeding.

The emulator has no controllers, so tests create what a controller would: ReplicaSets with revision
annotations and ownerReferences, Pods, Job status. `call()` touches emulator state on its own loop.
"""
from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
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
}


class KubeApi:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready, self._stop = threading.Event(), None
        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(self._main()), daemon=True)
        self.url = ""
        self.emulator: Any = None

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with kmock.KubernetesEmulator() as emu, kmock.Server(emu) as srv:
            for key, info in LISTABLE.items():
                emu.resources[key] = info
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
                 restarts: int = 0) -> None:
        """A running pod, ready unless a container is `waiting` (e.g. CrashLoopBackOff); owned by `owner_rs`."""
        state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
        metadata: dict[str, Any] = {"name": name, "namespace": ns}
        if owner_rs is not None:
            metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner_rs,
                                            "uid": f"uid-{owner_rs}", "controller": True}]
        self.put("v1/pods", ns, name, {
            "apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"containers": [{"name": "app", "image": "x"}]},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Ready", "status": "False" if waiting else "True"}],
                       "containerStatuses": [{"name": "app", "image": "x", "imageID": "", "ready": waiting is None,
                                              "restartCount": restarts, "state": state}]},
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
