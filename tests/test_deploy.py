"""deploy/: every manifest is a valid kubernetes object, the overlays render, and the RBAC rules are exactly
what the adapters call (integrations/kubernetes_rbac.py CALLS, checked against the adapters' source and the
kubernetes client's own URLs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import STOP_S
from bot.config import load_config
from bot.slack.bolt import SLACK_PATH
from integrations import kubernetes_rbac as rbac
from tests.kube_manifests import called_client_methods, deserialize, documents, granted, need_from_client

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUSTOMIZE_FILES = {"kustomization.yaml"}
CONFIG_FILES = {"ops.yaml"}
OVERLAY = DEPLOY / "overlays" / "example"
HELM = DEPLOY / "helm"      # a chart's templates are not manifests: tests/test_helm.py renders them
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (kustomize) not installed")


def manifest_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*.yaml")
                  if p.name not in KUSTOMIZE_FILES | CONFIG_FILES and not p.is_relative_to(HELM))


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_manifest_deserializes_into_the_clients_models(path: Path) -> None:
    docs = documents(path.read_text())
    assert docs, f"{path} has no documents"
    for doc in docs:
        deserialize(doc)


def test_every_manifest_is_in_a_kustomization_and_every_entry_exists() -> None:
    listed: set[Path] = set()
    for kfile in DEPLOY.rglob("kustomization.yaml"):
        k = yaml.safe_load(kfile.read_text())
        entries = k.get("resources", []) + k.get("components", [])
        entries += [f for gen in k.get("configMapGenerator", []) for f in gen.get("files", [])]
        for entry in entries:
            target = (kfile.parent / entry).resolve()
            assert target.exists(), f"{kfile}: {entry} does not exist"
            listed.add(target)
    assert set(manifest_files()) <= listed, set(manifest_files()) - listed


def kustomize(path: Path) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    out = subprocess.run([KUBECTL, "kustomize", str(path)], check=True, capture_output=True, text=True, timeout=60)
    return documents(out.stdout)


@needs_kubectl
@pytest.mark.parametrize("path", [DEPLOY / "base", OVERLAY], ids=["base", "example"])
def test_rendered_objects_deserialize(path: Path) -> None:
    kinds = set()
    for doc in kustomize(path):
        deserialize(doc)
        kinds.add(doc["kind"])
    assert {"Deployment", "Service", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap",
            "Job"} <= kinds


@needs_kubectl
def test_the_example_overlay_wires_namespace_config_image_and_bindings() -> None:
    docs = {(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")): d for d in kustomize(OVERLAY)}
    deployment = next(d for (kind, _, ns), d in docs.items() if kind == "Deployment" and ns == "opsbot")
    config_map = next(name for (kind, name, _) in docs if kind == "ConfigMap")
    pod = deployment["spec"]["template"]["spec"]
    assert config_map.startswith("opsbot-config-")                 # hashed: a changed config rolls the pods
    assert {"name": "config", "configMap": {"name": config_map}} in pod["volumes"]
    assert pod["containers"][0]["image"] == "registry.example.com/opsbot:1.0.0"
    assert ("RoleBinding", "opsbot-workloads", "shop") in docs     # kept in the namespace it grants
    for (kind, _, _), doc in docs.items():
        if kind in ("RoleBinding", "ClusterRoleBinding"):
            assert doc["subjects"] == [{"kind": "ServiceAccount", "name": "opsbot", "namespace": "opsbot"}]
    assert ("Ingress", "opsbot", "opsbot") in docs and ("PodDisruptionBudget", "opsbot", "opsbot") in docs


def namespaces_in(tree: object) -> set[str]:
    if isinstance(tree, dict):
        found = {tree["namespace"]} if isinstance(tree.get("namespace"), str) else set()
        return found.union(*(namespaces_in(v) for v in tree.values()))
    if isinstance(tree, list):
        return set().union(*(namespaces_in(v) for v in tree))
    return set()


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("ops.yaml")), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_the_shipped_configs_load_and_use_the_service_account(path: Path) -> None:
    config = load_config(path)
    assert config.integrations.kubernetes is not None and config.integrations.kubernetes.in_cluster


def test_every_namespace_in_the_example_config_has_a_role_binding() -> None:
    wanted = namespaces_in(yaml.safe_load((OVERLAY / "ops.yaml").read_text()))
    bound = {d["metadata"]["namespace"] for d in documents((OVERLAY / "bindings.yaml").read_text())
             if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == rbac.WORKLOADS_ROLE}
    assert wanted and wanted == bound


def test_the_deployment_fits_the_bot() -> None:
    (dep,) = documents((DEPLOY / "base" / "deployment.yaml").read_text())
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert dep["spec"]["replicas"] >= 2
    assert STOP_S < pod["terminationGracePeriodSeconds"] <= 30
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert pod["serviceAccountName"] == "opsbot" and pod["securityContext"]["runAsNonRoot"] is True
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DATABASE_URL"} <= set(refs)
    assert all(ref["key"] == name for name, ref in refs.items())
    assert {"name": "OPSBOT_CONFIG", "value": "/config/ops.yaml"} in container["env"]
    (job,) = documents((DEPLOY / "base" / "migrate-job.yaml").read_text())
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["opsbot", "db", "upgrade"]


def test_the_ingress_routes_only_slack_and_the_alert_receivers() -> None:
    (ingress,) = documents((DEPLOY / "components" / "ingress" / "ingress.yaml").read_text())
    paths = {(p["path"], p["pathType"]) for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert paths == {(SLACK_PATH, "Exact"), ("/alerts/", "Prefix")}


# --- RBAC: the one list, the adapters, the client, the YAML -----------------------------------------------------

def test_calls_lists_exactly_the_methods_the_adapters_call() -> None:
    called = called_client_methods()
    assert called, "no kubernetes client calls found: has the adapter's shape changed?"
    assert called - set(rbac.CALLS) == set(), "called but not in kubernetes_rbac.CALLS (the Role would lack it)"
    assert set(rbac.CALLS) - called == set(), "in kubernetes_rbac.CALLS but never called (the Role grants too much)"


@pytest.mark.parametrize("method", sorted(rbac.CALLS))
def test_each_rule_is_what_the_client_requests(method: str) -> None:
    assert rbac.CALLS[method] == need_from_client(method)


def test_need_from_client_reads_request_lines() -> None:
    # the parser itself, on calls whose rules are known independently of CALLS
    assert need_from_client("read_namespaced_pod_log") == rbac.Need("", "pods/log", "get")
    assert need_from_client("list_node") == rbac.Need("", "nodes", "list", cluster=True)
    assert need_from_client("delete_namespaced_deployment") == rbac.Need("apps", "deployments", "delete")
    assert need_from_client("list_namespaced_job") == rbac.Need("batch", "jobs", "list")


def test_the_committed_roles_grant_exactly_what_the_adapters_call() -> None:
    roles = documents((DEPLOY / "base" / "rbac.yaml").read_text())
    assert {r["metadata"]["name"] for r in roles} == {rbac.WORKLOADS_ROLE, rbac.NODES_ROLE}
    needed = {(n.api_group, n.resource, n.verb, n.cluster) for n in map(need_from_client, called_client_methods())}
    have = granted(roles)
    assert needed - have == set(), "the adapters call these, the Role lacks them"
    assert have - needed == set(), "the Role grants these, the adapters never call them"
    assert all("*" not in str(rule) for role in roles for rule in role["rules"])


def test_the_committed_rbac_yaml_is_the_rendering() -> None:
    assert (DEPLOY / "base" / "rbac.yaml").read_text() == rbac.render(), \
        "run: python -m integrations.kubernetes_rbac > deploy/base/rbac.yaml"
