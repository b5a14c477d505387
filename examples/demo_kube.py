"""A tiny Kubernetes API for `make demo`: one Deployment `backend` in namespace `demo` with three revisions.

Only what opsbot's Kubernetes adapter asks for is served, on loopback, with the standard library alone (the
demo installs nothing beyond opsbot): read the Deployment, list its ReplicaSets, pods and nodes, JSON-patch the
Deployment. It also plays the controller: after a patch that changes the pod template, the ReplicaSet of
that template takes the new revision and the rollout "completes" over a few seconds (status replicas move
1/3 → 2/3 → 3/3 ready), so `/ops rollback backend` shows a real plan, progress and outcome.
The tests use tests/fakes/kube.py (kmock) instead; this one is for the demo only.
"""
from __future__ import annotations

import copy
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REV = "deployment.kubernetes.io/revision"
NAMESPACE, NAME, REPLICAS = "demo", "backend", 3
IMAGES = {1: "registry.example.com/backend:1.4.0", 2: "registry.example.com/backend:1.4.1",
          3: "registry.example.com/backend:1.4.2"}
STEP_S = 0.4                     # the time each replica takes to become ready after a patch

_DEPLOYMENT = re.compile(rf"^/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{NAME}$")
_REPLICASETS = re.compile(rf"^/apis/apps/v1/namespaces/{NAMESPACE}/replicasets$")
_PODS = re.compile(rf"^/api/v1/namespaces/{NAMESPACE}/pods$")
NODES = [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"demo-node-{i}"},
          "status": {"conditions": [{"type": "Ready", "status": "True"}]}} for i in (1, 2, 3)]


def _template(rev: int) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": NAME}},
            "spec": {"containers": [{"name": NAME, "image": IMAGES[rev]}]}}


def _replicaset(rev: int) -> dict[str, Any]:
    template = _template(rev)
    template["metadata"]["labels"]["pod-template-hash"] = f"h{rev}"
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{NAME}-h{rev}", "namespace": NAMESPACE, "annotations": {REV: str(rev)},
                         "labels": {"app": NAME, "pod-template-hash": f"h{rev}"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME,
                                              "uid": f"uid-{NAME}", "controller": True}]},
            "spec": {"replicas": REPLICAS if rev == 3 else 0,
                     "selector": {"matchLabels": {"app": NAME, "pod-template-hash": f"h{rev}"}},
                     "template": template}}


class Cluster:
    """The objects, and the controller's part (a rollout that finishes)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deployment: dict[str, Any] = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "uid": f"uid-{NAME}", "generation": 1,
                         "annotations": {REV: "3"}},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": NAME}}, "template": _template(3)},
            "status": self._status(REPLICAS, 1),
        }
        self.replicasets = {rev: _replicaset(rev) for rev in IMAGES}

    @staticmethod
    def _status(ready: int, generation: int) -> dict[str, Any]:
        return {"observedGeneration": generation, "replicas": REPLICAS, "updatedReplicas": ready,
                "readyReplicas": ready, "availableReplicas": ready}

    def patch(self, ops: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            doc = copy.deepcopy(self.deployment)
            for op in ops:
                _apply(doc, op)
            changed = doc["spec"] != self.deployment["spec"]
            if changed:
                doc["metadata"]["generation"] += 1
                doc["status"] = self._status(0, doc["metadata"]["generation"])
                self._adopt(doc)
            self.deployment = doc
            generation = doc["metadata"]["generation"]
        if changed:
            threading.Thread(target=self._roll_out, args=(generation,), daemon=True).start()
        return doc

    def _adopt(self, doc: dict[str, Any]) -> None:
        """The ReplicaSet whose template is the new one takes the Deployment's revision (as on a rollback)."""
        wanted = doc["spec"]["template"]
        for rs in self.replicasets.values():
            template = copy.deepcopy(rs["spec"]["template"])
            template["metadata"]["labels"].pop("pod-template-hash", None)
            if template == wanted:
                rs["metadata"]["annotations"][REV] = doc["metadata"]["annotations"].get(REV, "0")
                rs["spec"]["replicas"] = REPLICAS
            else:
                rs["spec"]["replicas"] = 0

    def _roll_out(self, generation: int) -> None:
        for ready in range(1, REPLICAS + 1):
            time.sleep(STEP_S)
            with self.lock:
                if self.deployment["metadata"]["generation"] != generation:
                    return                              # a newer patch took over
                self.deployment["status"] = self._status(ready, generation)

    def pods(self) -> list[dict[str, Any]]:
        with self.lock:
            current = next((rs for rs in self.replicasets.values() if rs["spec"]["replicas"]), None)
            ready = self.deployment["status"]["readyReplicas"]
        if current is None:
            return []
        name = current["metadata"]["name"]
        return [{"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": f"{name}-{i}", "namespace": NAMESPACE,
                              "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name,
                                                   "uid": f"uid-{name}", "controller": True}]},
                 "spec": {"containers": [{"name": NAME, "image": current["spec"]["template"]["spec"]
                                          ["containers"][0]["image"]}]},
                 "status": {"phase": "Running", "containerStatuses": [
                     {"name": NAME, "image": "", "imageID": "", "ready": i < ready, "restartCount": 0,
                      "state": {"running": {}}}]}} for i in range(REPLICAS)]


def _apply(doc: dict[str, Any], op: dict[str, Any]) -> None:
    """One RFC 6902 `add` or `replace` (all the adapter sends)."""
    if op.get("op") not in ("add", "replace"):
        raise ValueError(f"unsupported patch op {op.get('op')!r}")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in str(op["path"]).split("/")[1:]]
    target = doc
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = op["value"]


def handler(cluster: Cluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?")[0]
            if _DEPLOYMENT.match(path):
                with cluster.lock:
                    self._send(200, copy.deepcopy(cluster.deployment))
            elif _REPLICASETS.match(path):
                with cluster.lock:
                    items = copy.deepcopy(list(cluster.replicasets.values()))
                self._send(200, {"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {}, "items": items})
            elif path == "/api/v1/nodes":
                self._send(200, {"apiVersion": "v1", "kind": "NodeList", "metadata": {}, "items": NODES})
            elif _PODS.match(path):
                self._send(200, {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": cluster.pods()})
            else:
                self._not_found()

        def do_PATCH(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not _DEPLOYMENT.match(self.path.split("?")[0]):
                self._not_found()
                return
            try:
                self._send(200, cluster.patch(json.loads(body)))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                self._send(422, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 422,
                                 "reason": "Invalid", "message": str(exc)})

        def _not_found(self) -> None:
            self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                             "reason": "NotFound", "message": f"{self.path} not found"})

        def _send(self, status: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def start(port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), handler(Cluster()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def kubeconfig(url: str) -> str:
    """A kubeconfig (JSON is YAML) whose context `demo` points at `url`."""
    return json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "demo",
                       "clusters": [{"name": "demo", "cluster": {"server": url}}],
                       "users": [{"name": "demo", "user": {"token": "demo-token-not-a-secret"}}],
                       "contexts": [{"name": "demo", "context": {"cluster": "demo", "user": "demo"}}]})
