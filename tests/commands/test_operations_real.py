"""Acceptance through `/ops` with the real adapters: Kubernetes on kmock, AWS on moto, both over HTTP."""
import threading
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from bot.storage.models import PendingAction
from tests.fakes.aws import aws, moto_server  # noqa: F401  (fixtures)
from tests.fakes.kube import closed_port_url, kube, kubeconfig  # noqa: F401  (fixture)
from tests.waiting import wait_until


def config(tmp_path, server):
    return {
        "integrations": {
            "aws": {"region": "us-east-1", "connect_timeout": "1s", "read_timeout": "3s", "poll_interval": "100ms"},
            "kubernetes": {"kubeconfig": kubeconfig(tmp_path, server), "context": "prod", "timeout": "1s",
                           "poll_interval": "100ms"}},
        "permissions": {"roles": {"deployer": ["U0ALICE"], "dba": ["U0BOB"]},
                        "commands": {"rollback": ["deployer"], "backup": ["deployer", "dba"], "scale": ["deployer"]}},
        "services": [
            {"name": "backend", "kubernetes": {"deployment": "web", "namespace": "prod"}},
            {"name": "weather-monitor", "lambda": {"function": "weather-monitor-production", "alias": "live"},
             "alarms": ["weather-monitor-errors-production"]}],
        "databases": [
            {"name": "prod-db", "rds": {"instance": "flight-schedule-pro-prod"}},
            {"name": "search-db", "kubernetes_cronjob": {"name": "postgres-backup", "namespace": "prod"}}],
    }


@pytest.fixture
def live(make_runtime, run_ops, kube, aws, tmp_path):  # noqa: F811
    rt = make_runtime(config(tmp_path, kube.url), real_clock=True)

    def confirm(text, user="U0ALICE"):
        """Propose, confirm, and return how the operation ended: its state and the last line of its thread."""
        proposal = run_ops(rt, text, user="U0CAROL")
        assert proposal.card, proposal.text
        assert run_ops(rt, f"confirm {proposal.card.key}", user=user).outcome == "confirmed"
        state = rt.operations.get(proposal.card.key).state
        return SimpleNamespace(outcome="ok" if state == "succeeded" else state.value,
                               text=rt.board.lines(thread=proposal.card)[-1])

    return rt, confirm


def test_deployment_rollback_restores_the_previous_image(live, kube, run_ops):  # noqa: F811
    kube.seed_deployment()
    rt, confirm = live
    result = confirm("rollback backend")
    assert result.outcome == "ok" and "rollout finished: 3/3 ready (image web:2)" in result.text
    image = kube.get("apps/v1/deployments", "prod", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "web:2"


def test_lambda_rollback_moves_the_alias_back(live, aws):  # noqa: F811
    aws.lambda_function("weather-monitor-production", versions=2)
    rt, confirm = live
    assert confirm("rollback weather-monitor").outcome == "ok"
    alias = aws.seed("lambda").get_alias(FunctionName="weather-monitor-production", Name="live")
    assert alias["FunctionVersion"] == "1"


def test_rds_backup_makes_exactly_one_available_snapshot(live, aws):  # noqa: F811
    aws.rds_instance("flight-schedule-pro-prod")
    rt, confirm = live
    result = confirm("backup prod-db", user="U0BOB")
    assert result.outcome == "ok" and " available (20 GiB" in result.text
    manual = aws.seed("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert len(manual) == 1 and manual[0]["Status"] == "available"
    assert manual[0]["DBSnapshotIdentifier"].startswith("opsbot-prod-db-")


def test_cronjob_backup_creates_exactly_one_job_from_its_template(live, kube):  # noqa: F811
    kube.seed_cronjob()
    rt, confirm = live

    def job_controller():   # what the Job controller would do once the Job exists
        [name] = wait_until(lambda: kube.names("batch/v1/jobs", "prod"), timeout=10, what="the backup job")
        kube.set_status("batch/v1/jobs", "prod", name, {"succeeded": 1})

    controller = threading.Thread(target=job_controller, daemon=True)
    controller.start()
    result = confirm("backup search-db")
    controller.join(10)
    [job] = kube.names("batch/v1/jobs", "prod")
    assert result.outcome == "ok" and f"job {job} succeeded" in result.text
    created = kube.get("batch/v1/jobs", "prod", job)
    assert created["spec"]["template"]["spec"]["containers"][0]["command"] == ["/backup.sh"]


def test_dry_run_changes_nothing_on_the_real_systems(live, kube, aws, run_ops):  # noqa: F811
    kube.seed_deployment()
    aws.rds_instance("flight-schedule-pro-prod")
    rt, _ = live
    rollback = run_ops(rt, "rollback backend --dry-run")
    backup = run_ops(rt, "backup prod-db --dry-run")
    assert "revision 3 (web:3)  →  revision 2 (web:2)" in rollback.blocks[0].fields[1]
    assert "manual snapshot opsbot-prod-db-" in backup.blocks[0].fields[1]
    assert len(kube.history("apps/v1/deployments", "prod", "web")) == 1
    assert aws.seed("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []
    with rt.sessions() as s:
        assert s.scalars(select(PendingAction)).all() == []


def test_status_with_a_dead_cluster_and_a_healthy_aws_account(make_runtime, run_ops, aws, tmp_path):  # noqa: F811
    aws.lambda_function("weather-monitor-production", versions=2)
    aws.alarm("weather-monitor-errors-production")
    rt = make_runtime(config(tmp_path, closed_port_url()), real_clock=True)
    started = time.monotonic()
    reply = run_ops(rt, "status")
    elapsed = time.monotonic() - started
    text = "\n".join(b.text for b in reply.blocks if hasattr(b, "text"))
    assert elapsed < 5, f"status took {elapsed:.1f}s"
    assert "*backend* — unknown · deployment/web in prod: cluster did not answer (connection refused)" in text
    assert "*kubernetes-nodes* — unknown · nodes: cluster did not answer" in text
    assert "*weather-monitor* — ok" in text
    assert "lambda: version 2, active" in text and "cloudwatch: 1 alarm(s) OK" in text
