"""The Kubernetes adapter against a real Kubernetes API on loopback (kmock's emulator)."""
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.config.services import KubernetesCronJobConfig, KubernetesSettings
from bot.config.services import KubernetesDeploymentConfig as DeploymentCfg
from integrations.base import (
    AccessDeniedError,
    Health,
    NotPossibleError,
    TargetNotFoundError,
    UnreachableError,
)
from integrations.kubernetes import KubernetesDeployment, KubernetesNodes, make_api_client
from integrations.kubernetes_backup import KubernetesCronJobBackup
from tests.fakes.kube import closed_port_url

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class FakeTime:
    """Injected monotonic clock + sleep: a poll loop runs its whole timeout in no real time."""

    def __init__(self, on_sleep=None):
        self.now, self.sleeps, self.on_sleep = 0.0, 0, on_sleep

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps += 1
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(self.sleeps)


def deployment(kube, *, name="web", ns="prod", rollout_timeout="5m", fake_time=None, **cfg):
    fake_time = fake_time or FakeTime()
    config = DeploymentCfg(deployment=name, namespace=ns, rollout_timeout=rollout_timeout, **cfg)
    return KubernetesDeployment(config, kube.api_client(), timeout_s=2, poll_interval_s=2,
                                sleep=fake_time.sleep, monotonic=fake_time.monotonic)


def image(kube, name="web", ns="prod"):
    return kube.get("apps/v1/deployments", ns, name)["spec"]["template"]["spec"]["containers"][0]["image"]


def test_status_ready_deployment(kube):
    kube.seed_deployment()
    [finding] = deployment(kube).check()
    assert (finding.health, finding.summary, finding.subject) == (Health.OK, "3/3 ready", "deployment/web in prod")


def test_status_partly_ready_and_crashing_pods(kube):
    kube.seed_deployment(ready=1)
    kube.seed_pod("web-h3-a", "prod", owner_rs="web-h3", waiting="CrashLoopBackOff", restarts=12)
    kube.seed_pod("web-h3-b", "prod", owner_rs="web-h3", restarts=9)
    kube.seed_pod("other-x", "prod", owner_rs="other-h1", waiting="CrashLoopBackOff")   # not ours
    dep, pods = deployment(kube).check()
    assert (dep.health, dep.summary) == (Health.DEGRADED, "1/3 ready")
    assert pods.health is Health.DEGRADED
    assert "1 pod(s) failing: web-h3-a (CrashLoopBackOff)" in pods.summary
    assert "1 pod(s) restarting: web-h3-b (9 restarts)" in pods.summary and "other-x" not in pods.summary


def test_status_nothing_ready_is_down(kube):
    kube.seed_deployment(ready=0)
    assert deployment(kube).check()[0].health is Health.DOWN


def test_nodes(kube):
    kube.seed_node("n1")
    kube.seed_node("n2", ready=False)
    [finding] = KubernetesNodes(kube.api_client(), timeout_s=2).check()
    assert (finding.health, finding.summary) == (Health.DEGRADED, "1/2 nodes Ready; NotReady: n2")


def test_rollback_plan_changes_nothing(kube):
    kube.seed_deployment()
    plan = deployment(kube).plan_rollback()
    assert (plan.current, plan.desired) == ("revision 3 (web:3)", "revision 2 (web:2)")
    assert len(kube.history("apps/v1/deployments", "prod", "web")) == 1 and image(kube) == "web:3"


def test_rollback_restores_the_previous_template(kube):
    kube.seed_deployment()
    target = deployment(kube)
    lines = []
    outcome = target.rollback(target.plan_rollback(), progress=lines.append)
    assert outcome.ok and outcome.summary == "rollout finished: 3/3 ready (image web:2)"
    stored = kube.get("apps/v1/deployments", "prod", "web")
    assert image(kube) == "web:2"
    assert "pod-template-hash" not in stored["spec"]["template"]["metadata"]["labels"]
    # the next revision after the highest one it owns (the look-alike ReplicaSet at revision 9 is not its own)
    assert stored["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
    assert "waiting for the rollout" in lines[0]


def test_rollback_to_an_explicit_revision_and_unknown_ones(kube):
    kube.seed_deployment()
    target = deployment(kube)
    plan = target.plan_rollback(to="1")
    assert plan.desired == "revision 1 (web:1)"
    assert target.rollback(plan, progress=lambda _: None).ok and image(kube) == "web:1"
    with pytest.raises(TargetNotFoundError, match="no revision 7"):
        deployment(kube).plan_rollback(to="7")


def test_no_earlier_revision(kube):
    kube.seed_deployment(revisions=(1,))
    with pytest.raises(NotPossibleError, match="no earlier revision"):
        deployment(kube).plan_rollback()


def test_missing_deployment_is_not_found(kube):
    with pytest.raises(TargetNotFoundError, match="deployment/ghost in prod: not found"):
        deployment(kube, name="ghost").plan_rollback()


def test_apply_refuses_when_the_deployment_changed_after_the_plan(kube):
    kube.seed_deployment()
    target = deployment(kube)
    plan = target.plan_rollback()
    # someone else rolled back meanwhile
    kube.patch("apps/v1/deployments", "prod", "web",
               {"metadata": {"annotations": {"deployment.kubernetes.io/revision": "4"}}})
    outcome = target.rollback(plan, progress=lambda _: None)
    assert not outcome.ok and "changed since the plan" in outcome.summary


def test_rollout_that_never_becomes_ready_times_out(kube):
    kube.seed_deployment(ready=1)
    clock = FakeTime()
    target = deployment(kube, rollout_timeout="1m", fake_time=clock)
    outcome = target.rollback(target.plan_rollback(), progress=lambda _: None)
    assert not outcome.ok and outcome.summary == "rollout did not finish within 1m: 1/3 ready"
    assert clock.sleeps == 30


def test_rollout_waits_for_the_controller(kube):
    kube.seed_deployment(ready=3)
    kube.set_status("apps/v1/deployments", "prod", "web", {"replicas": 3, "readyReplicas": 0,
                                                           "updatedReplicas": 0, "availableReplicas": 0})

    def controller(n):   # the "controller" brings the pods up on the second poll
        if n == 2:
            kube.set_status("apps/v1/deployments", "prod", "web", {"replicas": 3, "readyReplicas": 3,
                                                                   "updatedReplicas": 3, "availableReplicas": 3})

    clock = FakeTime(on_sleep=controller)
    target = deployment(kube, fake_time=clock)
    lines = []
    assert target.rollback(target.plan_rollback(), progress=lines.append).ok
    assert clock.sleeps == 2 and lines[-1] == "…0/3 ready"


def test_scale(kube):
    kube.seed_deployment()
    target = deployment(kube)
    plan = target.plan_scale(replicas=5)
    assert (plan.current, plan.desired) == ("3 replicas", "5 replicas")
    kube.set_status("apps/v1/deployments", "prod", "web", {"replicas": 5, "readyReplicas": 5,
                                                           "updatedReplicas": 5, "availableReplicas": 5})
    assert target.scale(plan, progress=lambda _: None).summary == "scaled: 5/5 ready"
    assert kube.get("apps/v1/deployments", "prod", "web")["spec"]["replicas"] == 5
    with pytest.raises(NotPossibleError, match="already has 5"):
        deployment(kube).plan_scale(replicas=5)


def backup(kube, *, fake_time=None, job_timeout="10m"):
    fake_time = fake_time or FakeTime()
    cfg = KubernetesCronJobConfig(name="postgres-backup", namespace="prod", job_timeout=job_timeout)
    return KubernetesCronJobBackup(cfg, kube.api_client(), timeout_s=2, max_backup_age=timedelta(hours=26),
                                   clock=lambda: NOW, sleep=fake_time.sleep, monotonic=fake_time.monotonic)


def test_backup_creates_exactly_one_job_from_the_cronjob_template(kube):
    kube.seed_cronjob()
    job = "postgres-backup-opsbot-20261123090000"

    def job_controller(n):
        kube.set_status("batch/v1/jobs", "prod", job, {"succeeded": 1, "conditions": [
            {"type": "Complete", "status": "True"}]})

    target = backup(kube, fake_time=FakeTime(on_sleep=job_controller))
    plan = target.plan_backup()
    assert plan.desired == f"job {job} from cronjob/postgres-backup" and kube.names("batch/v1/jobs") == []
    outcome = target.backup(plan, progress=lambda _: None)
    assert outcome.ok and outcome.summary.startswith(f"job {job} succeeded")
    assert kube.names("batch/v1/jobs", "prod") == [job]
    created = kube.get("batch/v1/jobs", "prod", job)
    assert created["spec"]["template"]["spec"]["containers"][0]["image"] == "postgres:16"
    assert created["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert created["metadata"]["ownerReferences"][0]["name"] == "postgres-backup"


def test_failed_backup_job_reports_the_reason(kube):
    kube.seed_cronjob()
    job = "postgres-backup-opsbot-20261123090000"

    def job_controller(n):
        kube.set_status("batch/v1/jobs", "prod", job, {"failed": 2, "conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit"}]})

    target = backup(kube, fake_time=FakeTime(on_sleep=job_controller))
    outcome = target.backup(target.plan_backup(), progress=lambda _: None)
    assert not outcome.ok and "backoff limit" in outcome.summary


def test_backup_status_by_age_of_the_newest_successful_job(kube):
    kube.seed_cronjob()
    assert backup(kube).check()[0].summary == "no successful backup job found"
    kube.put("batch/v1/jobs", "prod", "postgres-backup-29000", {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "postgres-backup-29000", "namespace": "prod"},
        "spec": {"template": {"spec": {"containers": []}}},
        "status": {"succeeded": 1, "completionTime": "2026-11-22T13:10:00Z"}})
    [finding] = backup(kube).check()
    assert (finding.health, finding.summary) == (Health.OK, "newest backup 19h 50m old")
    kube.set_status("batch/v1/jobs", "prod", "postgres-backup-29000",
                    {"succeeded": 1, "completionTime": "2026-11-22T03:10:00Z"})
    [finding] = backup(kube).check()
    assert (finding.health, finding.summary) == (Health.DEGRADED, "newest backup 1d 5h old (limit 1d 2h)")


def test_missing_cronjob_is_not_found(kube):
    with pytest.raises(TargetNotFoundError):
        backup(kube).plan_backup()


def test_unreachable_cluster_fails_fast_with_the_cause(kube):
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = closed_port_url()
    target = KubernetesDeployment(DeploymentCfg(deployment="web", namespace="prod"), client.ApiClient(configuration),
                                  timeout_s=1)
    started = time.monotonic()
    with pytest.raises(UnreachableError, match=r"cluster did not answer \(connection refused\)"):
        target.check()
    assert time.monotonic() - started < 2


def test_access_denied(kube):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Forbidden(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = b'{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}'
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forbidden)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = f"http://127.0.0.1:{server.server_address[1]}"
        nodes = KubernetesNodes(client.ApiClient(configuration), timeout_s=2)
        with pytest.raises(AccessDeniedError, match="access denied"):
            nodes.check()
    finally:
        server.shutdown()
        server.server_close()


def test_missing_kubeconfig_is_a_clear_error(tmp_path):
    with pytest.raises(AccessDeniedError, match="cannot load"):
        make_api_client(KubernetesSettings(kubeconfig=str(tmp_path / "nope"), context="prod"))


def test_a_rollout_the_controller_gave_up_on_fails_at_once(kube):
    kube.seed_deployment(ready=1)
    kube.set_status("apps/v1/deployments", "prod", "web", {
        "replicas": 3, "readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1,
        "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]})
    clock = FakeTime()
    target = deployment(kube, fake_time=clock)
    outcome = target.rollback(target.plan_rollback(), progress=lambda _: None)
    assert not outcome.ok and outcome.summary == "rollout stuck (ProgressDeadlineExceeded): 1/3 ready"
    assert clock.sleeps == 0
