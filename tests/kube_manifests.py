"""Helpers shared by tests/test_deploy.py (kustomize) and tests/test_helm.py (the chart): a manifest's objects
as the kubernetes client's models, and the RBAC rules the adapters need, read from their source and from the
client's own request lines."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from integrations import kubernetes_rbac as rbac

ROOT = Path(__file__).resolve().parent.parent


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def model_name(doc: dict[str, Any]) -> str:
    version = doc["apiVersion"].rsplit("/", 1)[-1]
    return version[0].upper() + version[1:] + doc["kind"]


def check_service_monitor(doc: dict[str, Any]) -> None:
    """A CRD the client has no model for: the fields the Prometheus operator needs, by hand."""
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}
    assert doc["metadata"]["name"]
    assert isinstance(doc["spec"]["selector"]["matchLabels"], dict) and doc["spec"]["selector"]["matchLabels"]
    for endpoint in doc["spec"]["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}
        assert endpoint["port"] and endpoint["path"].startswith("/")


def deserialize(doc: dict[str, Any]) -> object:
    """The client's model for `doc`. Unknown keys are dropped by the client, so the model serialized back
    must equal the document: a misspelled key (`livenessprobe`) fails here."""
    if doc["kind"] == "ServiceMonitor":
        check_service_monitor(doc)
        return doc
    name = model_name(doc)
    assert hasattr(client, name), f"no kubernetes model {name} for {doc['apiVersion']} {doc['kind']}"
    api = client.ApiClient()
    model = api._ApiClient__deserialize(doc, name)  # type: ignore[attr-defined]
    assert api.sanitize_for_serialization(model) == doc, f"{doc['kind']} {doc['metadata']['name']}: unknown keys"
    return model


def called_client_methods() -> set[str]:
    """Methods called on the adapters' AppsV1Api/CoreV1Api/BatchV1Api (`self.k.apps.read_…`), by reading the
    source of integrations/kubernetes*.py: a new call with no rule in CALLS fails the test below."""
    found: set[str] = set()
    for path in sorted((ROOT / "integrations").glob("kubernetes*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                    and node.value.attr in ("apps", "core", "batch")):
                found.add(node.attr)
    return found


API_CLASSES = (client.AppsV1Api, client.CoreV1Api, client.BatchV1Api)
HTTP_VERB = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}


def need_from_client(method: str) -> rbac.Need:
    """The rule a client method needs, from the client's own request line (`GET /apis/apps/v1/namespaces/
    {namespace}/deployments/{name}` → apps deployments get)."""
    api = next(cls for cls in API_CLASSES if hasattr(cls, method))
    src = inspect.getsource(getattr(api, f"_{method}_serialize"))
    http = re.search(r"method='([A-Z]+)'", src)
    path = re.search(r"resource_path='([^']+)'", src)
    assert http and path, f"cannot read the request line of {api.__name__}.{method}"
    parts = path.group(1).strip("/").split("/")
    group = "" if parts[0] == "api" else parts[1]
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    cluster = rest[:2] != ["namespaces", "{namespace}"]
    rest = rest if cluster else rest[2:]
    named = len(rest) > 1 and rest[1] == "{name}"
    resource = "/".join(part for part in rest if not part.startswith("{"))
    if http.group(1) == "GET":
        return rbac.Need(group, resource, "get" if named else "list", cluster)
    return rbac.Need(group, resource, HTTP_VERB[http.group(1)], cluster)


def granted(roles: list[dict[str, Any]]) -> set[tuple[str, str, str, bool]]:
    out = set()
    for role in roles:
        cluster = role["metadata"]["name"] == rbac.NODES_ROLE
        for rule in role["rules"]:
            out |= {(g, r, v, cluster) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return out
