"""The `kubernetes_pvc` check kind on kmock's Kubernetes API: Bound, Pending (within its grace or not), Lost and
being deleted; one claim by name, by labels or the whole namespace; and how full each is, from a fake
Prometheus's kubelet volume stats when `prometheus_url` is set, or said to be unknown. Plus its config rules.
The clock is injected: a Pending claim's age is counted from it."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import ConfigError, parse_config
from bot.config.data_checks import PvcCheck
from integrations.base import Health, TargetNotFoundError, UnreachableError
from integrations.http import HttpClients
from integrations.kubernetes_pvc import KubernetesPvcs
from tests.fakes.kube import closed_port_url
from tests.fakes.prometheus import FakePrometheus

NS = "flight-search-prod"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
GIB = 1024 ** 3


def claim(kube, name, *, ns=NS, phase="Bound", capacity="10Gi", labels=None, age=timedelta(days=30),
          deleting=False, resizing=False):
    meta = {"name": name, "namespace": ns, "labels": labels or {},
            "creationTimestamp": f"{NOW - age:%Y-%m-%dT%H:%M:%SZ}"}
    if deleting:
        meta |= {"deletionTimestamp": f"{NOW:%Y-%m-%dT%H:%M:%SZ}", "finalizers": ["kubernetes.io/pvc-protection"]}
    status = {"phase": phase}
    if phase == "Bound":
        status |= {"capacity": {"storage": capacity}, "accessModes": ["ReadWriteOnce"]}
    if resizing:
        status["conditions"] = [{"type": "FileSystemResizePending", "status": "True"}]
    kube.put("v1/persistentvolumeclaims", ns, name, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": capacity}}},
        "status": status})


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()
    yield fake
    fake.close()


def pvcs(kube, **cfg):
    check = PvcCheck.model_validate({"check": "kubernetes_pvc", "namespace": NS} | cfg)
    return KubernetesPvcs(check, kube.api_client(), timeout_s=2, http=HttpClients().get, clock=lambda: NOW)


def seen(source):
    return [(f.health, f.summary) for f in source.check()]


def test_bound_claims_without_metrics_say_usage_is_unknown(kube):
    claim(kube, "data-postgres-0", capacity="50Gi")
    claim(kube, "data-redis-0", capacity="5Gi", resizing=True)
    claim(kube, "elsewhere", ns="other", phase="Lost")
    source = pvcs(kube)
    assert seen(source) == [
        (Health.OK, "data-postgres-0: Bound, 50Gi; usage unknown (no metrics)"),
        (Health.OK, "data-redis-0: Bound, 5Gi; usage unknown (no metrics); FileSystemResizePending (being expanded)"),
    ]
    assert {f.subject for f in source.check()} == {f"volume claims in {NS}"}


def test_lost_fails_and_pending_warns_after_its_grace(kube):
    claim(kube, "data-postgres-0")
    claim(kube, "data-postgres-1", phase="Lost")
    claim(kube, "data-postgres-2", phase="Pending", age=timedelta(hours=3))
    claim(kube, "data-postgres-3", phase="Pending", age=timedelta(minutes=2))     # waiting for its first pod
    claim(kube, "scratch", deleting=True)
    assert seen(pvcs(kube)) == [
        (Health.OK, "data-postgres-0: Bound, 10Gi; usage unknown (no metrics)"),
        (Health.DOWN, "data-postgres-1: Lost: its volume is gone"),
        (Health.DEGRADED, "data-postgres-2: Pending for 3h (not bound to a volume yet)"),
        (Health.OK, "data-postgres-3: Pending for 2m (not bound to a volume yet)"),
        (Health.DEGRADED, "scratch: Bound, 10Gi, being deleted (still in use by a pod?)"),
    ]
    assert seen(pvcs(kube, pending_grace="1m"))[3][0] is Health.DEGRADED


def test_one_claim_by_name_or_by_labels(kube):
    claim(kube, "data-postgres-0", labels={"app": "postgres", "tier": "db"})
    claim(kube, "data-postgres-1", phase="Lost", labels={"app": "postgres"})
    claim(kube, "data-redis-0", phase="Lost", labels={"app": "redis", "tier": "db"})
    assert seen(pvcs(kube, name="data-postgres-0")) == [
        (Health.OK, "data-postgres-0: Bound, 10Gi; usage unknown (no metrics)")]
    by_labels = pvcs(kube, selector={"app": "postgres", "tier": "db"})
    assert seen(by_labels) == [(Health.OK, "data-postgres-0: Bound, 10Gi; usage unknown (no metrics)")]
    assert by_labels.subject == f"volume claims app=postgres,tier=db in {NS}"
    assert [h for h, _ in seen(pvcs(kube, selector={"app": "postgres"}))] == [Health.OK, Health.DOWN]


def test_no_matching_claim_is_a_warning_and_a_missing_name_is_not_found(kube):
    claim(kube, "data-postgres-0", labels={"app": "postgres"})
    assert seen(pvcs(kube, selector={"app": "mysql"})) == [
        (Health.DEGRADED, f"no volume claims labelled app=mysql in namespace {NS} (is the name right?)")]
    with pytest.raises(TargetNotFoundError, match=f"volume claim data-mysql-0 in {NS}: not found"):
        pvcs(kube, name="data-mysql-0").check()


@pytest.mark.parametrize("used, health, ending", [
    (5.0, Health.OK, ""),
    (8.5, Health.DEGRADED, "; warn at 80%, fail at 90%"),
    (9.3, Health.DOWN, "; warn at 80%, fail at 90%"),
])
def test_usage_from_prometheus_against_its_lines(kube, prometheus, used, health, ending):
    claim(kube, "data-postgres-0")
    prometheus.volume(NS, "data-postgres-0", used=used * GIB, capacity=9.8 * GIB)      # the filesystem's size
    prometheus.volume("other", "data-postgres-0", used=9.7 * GIB, capacity=9.8 * GIB)
    [finding] = pvcs(kube, prometheus_url=prometheus.url).check()
    pct = round(100 * used / 9.8)
    assert (finding.health, finding.summary) == (
        health, f"data-postgres-0: Bound, 10Gi; {pct}% used ({used:.1f} GiB of 9.8 GiB){ending}")
    assert prometheus.queries == [
        f'max by (persistentvolumeclaim) (kubelet_volume_stats_used_bytes{{namespace="{NS}"}})',
        f'max by (persistentvolumeclaim) (kubelet_volume_stats_capacity_bytes{{namespace="{NS}"}})']


def test_a_claim_prometheus_has_no_stats_for_and_a_broken_prometheus(kube, prometheus):
    claim(kube, "data-postgres-0")
    claim(kube, "data-postgres-1")
    prometheus.volume(NS, "data-postgres-0", used=1 * GIB, capacity=10 * GIB)
    assert seen(pvcs(kube, prometheus_url=prometheus.url)) == [
        (Health.OK, "data-postgres-0: Bound, 10Gi; 10% used (1.0 GiB of 10 GiB)"),
        (Health.OK, "data-postgres-1: Bound, 10Gi; usage unknown (Prometheus has no kubelet volume stats for it; "
                    "is it mounted?)")]
    prometheus.broken = True
    assert seen(pvcs(kube, name="data-postgres-0", prometheus_url=prometheus.url)) == [
        (Health.OK, "data-postgres-0: Bound, 10Gi; usage unknown (Prometheus has no kubelet volume stats for it; "
                    "is it mounted?)"),
        (Health.DEGRADED, "usage unknown: Prometheus answered HTTP 503: Service Unavailable")]
    [_, refused] = pvcs(kube, name="data-postgres-0", prometheus_url=closed_port_url()).check()
    assert (refused.health, refused.summary) == (
        Health.DEGRADED, "usage unknown: Prometheus could not be reached (ConnectError)")


def test_an_unreachable_cluster_raises_unreachable():
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = closed_port_url()
    check = PvcCheck(check="kubernetes_pvc", namespace=NS)
    source = KubernetesPvcs(check, client.ApiClient(configuration), timeout_s=1, clock=lambda: NOW)
    with pytest.raises(UnreachableError, match=f"volume claims in {NS}: cluster did not answer"):
        source.check()


# --- config ------------------------------------------------------------------------------------------


def test_defaults_and_labels():
    checks = parse_config({"integrations": {"kubernetes": {}}, "checklists": {"m": {"checks": [
        {"check": "kubernetes_pvc", "namespace": NS},
        {"check": "kubernetes_pvc", "namespace": NS, "name": "data-postgres-0"},
        {"check": "kubernetes_pvc", "selector": {"app.kubernetes.io/name": "postgres"}}]}}}).checklists["m"].checks
    assert [c.label for c in checks] == [
        f"volume claims in {NS}", f"volume claim data-postgres-0 in {NS}",
        "volume claims app.kubernetes.io/name=postgres in default"]
    first = checks[0]
    assert isinstance(first, PvcCheck)
    assert (first.used_warn_pct, first.used_fail_pct, first.prometheus_url, first.pending_grace) == (
        80, 90, None, timedelta(minutes=10))


@pytest.mark.parametrize("extra, expected", [
    ({"name": "data-0", "selector": {"app": "pg"}},
     "checklists.m.checks[0].kubernetes_pvc: give `name:` (one claim) or `selector:` (labels), not both"),
    ({"selector": {"app": "not a value"}},
     "checklists.m.checks[0].kubernetes_pvc: selector: 'not a value' (for app) is not a label value"),
    ({"name": "Data_0"}, "checklists.m.checks[0].kubernetes_pvc.name: String should match pattern"),
    ({"used_warn_pct": 95}, "used_fail_pct (90) must be at or above used_warn_pct (95)"),
    ({"prometheus_url": "prometheus:9090"}, "checklists.m.checks[0].kubernetes_pvc.prometheus_url: "),
])
def test_bad_settings_name_the_key(extra, expected):
    with pytest.raises(ConfigError) as err:
        parse_config({"integrations": {"kubernetes": {}},
                      "checklists": {"m": {"checks": [{"check": "kubernetes_pvc"} | extra]}}})
    assert expected in "\n".join(err.value.problems)


def test_it_needs_integrations_kubernetes():
    with pytest.raises(ConfigError) as err:
        parse_config({"checklists": {"m": {"checks": [{"check": "kubernetes_pvc"}]}}})
    assert "checklists.m.checks[0]: kubernetes_pvc needs integrations.kubernetes" in err.value.problems
