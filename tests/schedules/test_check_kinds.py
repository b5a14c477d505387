"""A checklist of every check kind, run end to end: config -> build_integrations -> run_checklist -> stored
items, against moto (CloudWatch, CloudWatch Logs), kmock (pods, backup Jobs), TLS servers on loopback and
the test database itself (SQLite, or PostgreSQL when configured) as the `sql` target.

The clock is the real time, truncated: moto refuses log events older than 14 days and OpenSSL checks
certificate expiry against the machine's clock, so the injected clock has to agree with both."""
import re
from datetime import UTC, datetime, timedelta

import pytest

from schedules.checklists import get_run, run_checklist
from tests.fakes.aws import aws, moto_server  # noqa: F401  (fixtures)
from tests.fakes.kube import kube, kubeconfig  # noqa: F401  (fixture)
from tests.fakes.tls import Pki, TlsServer, closed_port

FN = "weather-monitor-production"
GROUP = f"/aws/lambda/{FN}"
NS = "flight-search-prod"
STAGING = "flight-search-staging"
PASSWORD = "S3cr3t-Pw-4711"



@pytest.fixture
def world(aws, kube, tmp_path, monkeypatch, db_url, clock):  # noqa: F811
    """Every target the checklist asks about, in a known state; returns what the config needs to name them."""
    now = datetime.now(UTC).replace(microsecond=0)
    clock.now = now
    # CloudWatch: one production alarm firing (and one elsewhere that the prefix leaves out); Errors above 3.
    aws.alarm("prod-api-5xx", state="ALARM", reason="Threshold Crossed")
    aws.alarm("prod-db-cpu", state="OK")
    aws.alarm("staging-api-5xx", state="ALARM")
    aws.seed("cloudwatch").put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Errors", "Dimensions": [{"Name": "FunctionName", "Value": FN}],
         "Timestamp": now - timedelta(minutes=m), "Value": v} for m, v in ((10, 4), (40, 1))])
    # CloudWatch Logs: one ERROR in the last day.
    logs = aws.seed("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
    logs.put_log_events(logGroupName=GROUP, logStreamName="s", logEvents=[
        {"timestamp": int((now - timedelta(hours=h)).timestamp() * 1000), "message": m}
        for h, m in ((5, "ERROR upstream timeout: weather API"), (1, "INFO done"))])
    # Kubernetes: one pod crash-looping; the backup CronJob's newest Job finished 3 hours ago.
    for ns, name, waiting in ((NS, "search-api-1", None), (NS, "search-api-2", "CrashLoopBackOff"),
                              (STAGING, "search-api-1", None)):
        kube.seed_pod(name, ns, waiting=waiting, restarts=9 if waiting else 0)
    kube.put("batch/v1/jobs", "prod", "postgres-backup-29000", {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "postgres-backup-29000", "namespace": "prod"},
        "spec": {"template": {"spec": {"containers": []}}},
        "status": {"succeeded": 1, "completionTime": f"{now - timedelta(hours=3):%Y-%m-%dT%H:%M:%SZ}"}})
    # TLS: a certificate with 30 days left, one with 3, and a port where nothing listens.
    pki = Pki(tmp_path, now=now)
    soon = pki.leaf("soon", valid_for=timedelta(days=3))
    servers = [TlsServer(pki.leaf("api", valid_for=timedelta(days=30))), TlsServer(soon)]
    # SQL: the test database itself; a variable nobody set; a URL with a password where nothing listens.
    monkeypatch.setenv("APP_DATABASE_URL", db_url)
    monkeypatch.delenv("MISSING_DATABASE_URL", raising=False)
    monkeypatch.setenv("PAYMENTS_DATABASE_URL", f"postgresql+psycopg://app:{PASSWORD}@127.0.0.1:{closed_port()}/pay")
    yield {"kubeconfig": kubeconfig(tmp_path, kube.url), "ca_file": str(pki.ca_file), "ok_port": servers[0].port,
           "soon_port": servers[1].port, "soon": soon.not_after, "closed_port": closed_port(), "now": now}
    for server in servers:
        server.close()


def config(world):
    tls = {"check": "tls_expiry", "host": "127.0.0.1", "ca_file": world["ca_file"], "min_days": 14}
    return {
        "integrations": {
            "aws": {"region": "us-east-1", "connect_timeout": "1s", "read_timeout": "3s"},
            "kubernetes": {"kubeconfig": world["kubeconfig"], "context": "prod", "timeout": "2s"}},
        "databases": [{"name": "search-db", "kubernetes_cronjob": {"name": "postgres-backup", "namespace": "prod"}}],
        "checklists": {
            "morning": {"checks": [
                {"check": "cloudwatch_alarms", "prefix": "prod-"},
                {"check": "metric", "namespace": "AWS/Lambda", "name": "Errors", "dimensions": {"FunctionName": FN},
                 "stat": "Sum", "period": "1h", "max": 3},
                {"check": "log_errors", "log_group": GROUP, "pattern": "ERROR", "period": "24h", "max": 0},
                {"check": "kubernetes_pods", "namespace": NS},
                tls | {"port": world["ok_port"]},
                tls | {"port": world["soon_port"]},
                tls | {"port": world["closed_port"], "timeout": "1s"},
                {"check": "sql", "url_env": "APP_DATABASE_URL", "max_connections_pct": 80},
                {"check": "sql", "url_env": "MISSING_DATABASE_URL"},
                {"check": "sql", "url_env": "PAYMENTS_DATABASE_URL"},
                {"check": "backup_age", "database": "search-db"},
                {"check": "backup_age", "database": "search-db", "max_age": "2h"},
                {"check": "manual", "text": "Look at the on-call handover notes"}]},
            "quiet": {"checks": [
                {"check": "cloudwatch_alarms", "prefix": "billing-"},
                {"check": "metric", "namespace": "AWS/Lambda", "name": "Errors", "dimensions": {"FunctionName": FN},
                 "stat": "Maximum", "period": "1h", "max": 10},
                {"check": "log_errors", "log_group": GROUP, "pattern": "ERROR", "period": "2h"},
                {"check": "kubernetes_pods", "namespace": STAGING}]}},
    }


def run(rt, name):
    run_id = run_checklist(rt, name, scheduled_for=rt.clock(), trigger="manual", requested_by="U0ALICE")
    assert run_id is not None
    return get_run(rt, run_id)


def test_every_kind_reports_its_verdict_and_reason(make_runtime, world, db_url):
    rt = make_runtime(config(world))
    report = run(rt, "morning")
    got = [(i.kind, i.label, i.result, i.reason) for i in report.items]
    soon = f"{world['soon']:%Y-%m-%d %H:%M} UTC"
    assert got == [
        ("cloudwatch_alarms", "CloudWatch alarms named prod-…", "fail",
         "cloudwatch: 1 alarm starting 'prod-' in ALARM: prod-api-5xx"),
        ("metric", f"AWS/Lambda Errors (FunctionName={FN})", "fail",
         "cloudwatch: Sum over the last 1h: 5, above max 3"),
        ("log_errors", f"ERROR in {GROUP}", "fail",
         "logs: 1 event matching 'ERROR' in the last 1d (max 0); first: ERROR upstream timeout: weather API"),
        ("kubernetes_pods", f"pods in {NS}", "fail",
         "kubernetes: of 2 pods, 1 failing: search-api-2 (CrashLoopBackOff)"),
        ("tls_expiry", "TLS certificate of 127.0.0.1:" + str(world["ok_port"]), "ok", None),
        ("tls_expiry", "TLS certificate of 127.0.0.1:" + str(world["soon_port"]), "fail",
         f"tls: certificate expires on {soon} (in 3 days): fewer than 14 days left"),
        ("tls_expiry", "TLS certificate of 127.0.0.1:" + str(world["closed_port"]), "warn",
         f"check: 127.0.0.1:{world['closed_port']}: connection refused (nothing listening)"),
        ("sql", "database at $APP_DATABASE_URL", "ok", None),
        ("sql", "database at $MISSING_DATABASE_URL", "warn", "check: MISSING_DATABASE_URL is not set"),
        ("sql", "database at $PAYMENTS_DATABASE_URL", "fail", "sql: postgresql: connection refused"),
        ("backup_age", "backup of search-db", "ok", None),
        ("backup_age", "backup of search-db", "warn", "kubernetes: newest backup 3h old (limit 2h)"),
        ("manual", "Look at the on-call handover notes", "todo", None),
    ]
    assert (report.result, report.summary) == ("fail", "6 failed, 3 warning, 3 passed, 1 to do")
    details = {i.position: i.details for i in report.items}
    assert "(in 30 days)" in details[4]
    answer = r"postgresql: \d+ of \d+ connections in use \(\d+%\)$" if db_url.startswith("postgresql") \
        else r"sqlite: SELECT 1 answered in \d+ ms"
    assert re.search(answer, details[7]), details[7]
    everything = "\n".join(f"{i.label} {i.reason} {i.details}" for i in report.items)
    assert PASSWORD not in everything and db_url not in everything


def test_a_quiet_checklist_passes(make_runtime, world):
    report = run(make_runtime(config(world)), "quiet")
    assert [(i.kind, i.result, i.reason) for i in report.items] == [
        ("cloudwatch_alarms", "ok", None), ("metric", "ok", None), ("log_errors", "ok", None),
        ("kubernetes_pods", "ok", None)]
    assert (report.result, report.summary) == ("ok", "4 passed")
    assert [i.details.split(": ", 1)[1] for i in report.items] == [
        "no alarms starting 'billing-' in ALARM", "Maximum over the last 1h: 4",
        "0 events matching 'ERROR' in the last 2h (max 0)", "1/1 pods healthy"]
