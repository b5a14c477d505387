"""The data-store check kinds run end to end: config -> build_integrations -> run_checklist -> stored items,
against a real redis-server, the PostgreSQL of OPSBOT_TEST_POSTGRES_URL (when set) and kmock's PVCs. Each
item's result and reason are what the report shows."""
from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from schedules.checklists import get_run, run_checklist
from tests.fakes.kube import kube, kubeconfig  # noqa: F401  (fixture)
from tests.fakes.redis_server import redis_server  # noqa: F401  (fixture)
from tests.fakes.tls import closed_port

NS = "flight-search-prod"
PASSWORD = "Rd-S3cret-81"


def pvc(kube, name, phase):  # noqa: F811
    status = {"phase": phase} | ({"capacity": {"storage": "20Gi"}} if phase == "Bound" else {})
    kube.put("v1/persistentvolumeclaims", NS, name, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "postgres"}},
        "spec": {"resources": {"requests": {"storage": "20Gi"}}}, "status": status})


def test_redis_postgres_and_volume_claims_in_one_checklist(make_runtime, redis_server, kube, tmp_path,  # noqa: F811
                                                           monkeypatch, clock):
    clock.now = datetime.now(UTC)
    with redis_server.client() as c:
        c.config_set("maxmemory", str(1024 ** 3))
    pg = os.environ.get("OPSBOT_TEST_POSTGRES_URL")
    monkeypatch.setenv("CACHE_URL", redis_server.url)
    monkeypatch.setenv("SESSIONS_URL", f"redis://:{PASSWORD}@127.0.0.1:{closed_port()}/0")
    monkeypatch.delenv("QUEUE_URL", raising=False)
    monkeypatch.setenv("PAYMENTS_DATABASE_URL", f"postgresql://app:{PASSWORD}@127.0.0.1:{closed_port()}/pay")
    monkeypatch.setenv("FLIGHTS_DATABASE_URL", pg or "")
    pvc(kube, "data-postgres-0", "Bound")
    pvc(kube, "data-postgres-1", "Lost")
    checks = [
        {"check": "redis", "name": "cache-prod", "url": {"secret": "CACHE_URL"}},
        {"check": "redis", "name": "sessions", "url": {"secret": "SESSIONS_URL"}},
        {"check": "redis", "url": {"secret": "QUEUE_URL"}},
        {"check": "postgres_activity", "name": "payments", "url_env": "PAYMENTS_DATABASE_URL"},
        {"check": "kubernetes_pvc", "namespace": NS, "name": "data-postgres-0"},
        {"check": "kubernetes_pvc", "namespace": NS, "selector": {"app": "postgres"}},
    ]
    if pg:
        checks.append({"check": "postgres_activity", "name": "flights", "url": {"secret": "FLIGHTS_DATABASE_URL"},
                       "long_query_warn": "1h", "long_query_fail": "2h"})
    rt = make_runtime({
        "integrations": {"kubernetes": {"kubeconfig": kubeconfig(tmp_path, kube.url), "context": "prod",
                                        "timeout": "2s"}},
        "checklists": {"data": {"checks": checks}}})
    run_id = run_checklist(rt, "data", scheduled_for=rt.clock(), trigger="manual", requested_by="U0ALICE")
    assert run_id is not None
    report = get_run(rt, run_id)
    got = [(i.kind, i.label, i.result, i.reason) for i in report.items]
    expected = [
        ("redis", "Redis cache-prod", "ok", None),
        ("redis", "Redis sessions", "fail", "redis: connection refused (nothing listening)"),
        ("redis", "Redis at $QUEUE_URL", "warn",
         "check: redis at $QUEUE_URL: the secret in environment variable QUEUE_URL is not set"),
        ("postgres_activity", "PostgreSQL activity of payments", "fail", "postgres: connection refused"),
        ("kubernetes_pvc", f"volume claim data-postgres-0 in {NS}", "ok", None),
        ("kubernetes_pvc", f"volume claims app=postgres in {NS}", "fail",
         "kubernetes: data-postgres-1: Lost: its volume is gone"),
    ]
    if pg:
        expected.append(("postgres_activity", "PostgreSQL activity of flights", "ok", None))
    assert got == expected
    details = {i.position: i.details or "" for i in report.items}
    assert "ok · redis · redis cache-prod: PONG in " in details[0]
    assert "ok · redis · redis cache-prod: 0% of maxmemory used" in details[0]
    assert "ok · kubernetes · volume claim data-postgres-0 in flight-search-prod: data-postgres-0: Bound, 20Gi; " \
           "usage unknown (no metrics)" in details[4]
    everything = "\n".join(f"{i.label} {i.reason} {i.details}" for i in report.items)
    assert PASSWORD not in everything


@pytest.mark.parametrize("check", [
    {"check": "redis", "url": {"secret": "CACHE_URL"}},
    {"check": "postgres_activity", "url_env": "APP_DATABASE_URL"},
])
def test_the_data_kinds_need_no_integration_section(make_runtime, check):
    rt = make_runtime({"checklists": {"m": {"checks": [check]}}})
    assert len(rt.integrations.check_sources) == 1
