"""The checklist check kinds' own sources against real parts on loopback: CloudWatch and CloudWatch Logs on
moto (server mode), pods on kmock's Kubernetes API, TLS servers with certificates made here, and SQLite /
PostgreSQL databases. Plus the config rules for these kinds.

Time: metric tests use a fixed clock (moto keeps datapoints at any timestamp). Log tests use the real
time, truncated: moto, like AWS, refuses log events older than 14 days. TLS tests use the real time too,
because OpenSSL checks expiry against the machine's clock during the handshake.
"""
import os
import socket
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from bot.config import ConfigError, parse_config
from bot.config.checklists import (
    CloudWatchAlarmsCheck,
    LogErrorsCheck,
    MetricCheck,
    PodsCheck,
    SqlCheck,
    TlsExpiryCheck,
)
from integrations.aws.cloudwatch import CloudWatchAccountAlarms, CloudWatchMetric
from integrations.aws.logs import CloudWatchLogErrors
from integrations.base import AdapterError, Finding, Health, TargetNotFoundError, UnreachableError
from integrations.kubernetes_pods import KubernetesPods
from integrations.sql import SqlDatabase
from integrations.tls import TlsCertificate
from tests.fakes.kube import closed_port_url
from tests.fakes.tls import Pki, TlsServer, closed_port

FN = "weather-monitor-production"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PG_ENV = "OPSBOT_TEST_POSTGRES_URL"


def text_of(findings: list[Finding]) -> str:
    """Everything a person could read from findings."""
    return "\n".join(f"{f.source} {f.subject} {f.summary} {dict(f.details)}" for f in findings)


def real_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- cloudwatch_alarms -------------------------------------------------------------------------------


def test_every_alarm_in_alarm_is_named_with_its_reason(aws):
    aws.alarm("prod-api-5xx", state="ALARM", reason="Threshold Crossed: 1 datapoint [9.0] > 3")
    aws.alarm("dev-api-5xx", state="ALARM")
    aws.alarm("prod-db-cpu", state="OK")
    aws.alarm("prod-queue-age", state="INSUFFICIENT_DATA")
    [everything] = CloudWatchAccountAlarms(CloudWatchAlarmsCheck(check="cloudwatch_alarms"), aws.clients).check()
    assert (everything.health, everything.summary) == (Health.DOWN, "2 alarms in ALARM: dev-api-5xx, prod-api-5xx")
    [prod] = CloudWatchAccountAlarms(CloudWatchAlarmsCheck(check="cloudwatch_alarms", prefix="prod-"),
                                     aws.clients).check()
    assert (prod.health, prod.summary) == (Health.DOWN, "1 alarm starting 'prod-' in ALARM: prod-api-5xx")
    assert prod.details == {"prod-api-5xx": "Threshold Crossed: 1 datapoint [9.0] > 3"}


def test_no_alarm_in_alarm_is_ok_and_long_lists_are_cut(aws):
    check = CloudWatchAccountAlarms(CloudWatchAlarmsCheck(check="cloudwatch_alarms", prefix="prod-"), aws.clients)
    aws.alarm("prod-db-cpu", state="OK")
    aws.alarm("staging-api", state="ALARM")
    assert [(f.health, f.summary) for f in check.check()] == [(Health.OK, "no alarms starting 'prod-' in ALARM")]
    for i in range(7):
        aws.alarm(f"prod-a{i}", state="ALARM")
    [finding] = check.check()
    assert finding.summary == "7 alarms starting 'prod-' in ALARM: prod-a0, prod-a1, prod-a2, prod-a3, prod-a4 " \
                              "and 2 more"
    assert sorted(finding.details) == ["prod-a0", "prod-a1", "prod-a2", "prod-a3", "prod-a4"]


# --- metric ------------------------------------------------------------------------------------------


def metric(**cfg):
    base = {"check": "metric", "namespace": "AWS/Lambda", "name": "Errors", "dimensions": {"FunctionName": FN},
            "stat": "Sum", "period": "1h"}
    return MetricCheck.model_validate(base | cfg)


def put_errors(aws, points, function=FN, name="Errors"):
    aws.seed("cloudwatch").put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": name, "Dimensions": [{"Name": "FunctionName", "Value": function}],
         "Timestamp": NOW - ago, "Value": value} for ago, value in points])


@pytest.mark.parametrize("cfg, health, summary", [
    ({"max": 3}, Health.DOWN, "Sum over the last 1h: 5, above max 3"),
    ({"max": 5}, Health.OK, "Sum over the last 1h: 5"),
    ({"stat": "Average", "max": 2}, Health.DOWN, "Average over the last 1h: 2.5, above max 2"),
    ({"stat": "Maximum", "max": 3}, Health.OK, "Maximum over the last 1h: 3"),
    ({"stat": "Minimum", "min": 2.5}, Health.DOWN, "Minimum over the last 1h: 2, below min 2.5"),
    ({"stat": "SampleCount", "min": 1, "max": 2}, Health.OK, "SampleCount over the last 1h: 2"),
    ({"period": "2h", "max": 100}, Health.OK, "Sum over the last 2h: 15"),
])
def test_metric_statistic_over_the_window_against_its_bounds(aws, cfg, health, summary):
    # Inside the last hour: 2 and 3. An hour and a half ago: 10. Another function's datapoint never counts.
    put_errors(aws, [(timedelta(minutes=5), 2), (timedelta(minutes=30), 3), (timedelta(minutes=90), 10)])
    put_errors(aws, [(timedelta(minutes=5), 100)], function="other-function")
    [finding] = CloudWatchMetric(metric(**cfg), aws.clients, clock=lambda: NOW).check()
    assert (finding.health, finding.summary) == (health, summary)
    assert finding.subject == f"metric AWS/Lambda Errors (FunctionName={FN})"


def test_a_long_window_is_read_in_coarser_buckets_and_still_summed(aws):
    put_errors(aws, [(timedelta(hours=h), 1) for h in (1, 20, 47)] + [(timedelta(hours=49), 50)])
    [finding] = CloudWatchMetric(metric(period="2d", max=3), aws.clients, clock=lambda: NOW).check()
    assert (finding.health, finding.summary) == (Health.OK, "Sum over the last 2d: 3")


def test_metric_without_datapoints_is_a_warning(aws):
    put_errors(aws, [(timedelta(minutes=5), 1)], name="Throttles")
    [finding] = CloudWatchMetric(metric(max=3), aws.clients, clock=lambda: NOW).check()
    assert (finding.health, finding.summary) == (Health.DEGRADED, "no datapoints in the last 1h")


# --- log_errors --------------------------------------------------------------------------------------


GROUP = "/aws/lambda/weather-monitor-production"


def log_group(aws, now, events):
    logs = aws.seed("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="2026/11/23/[$LATEST]abc")
    logs.put_log_events(logGroupName=GROUP, logStreamName="2026/11/23/[$LATEST]abc", logEvents=[
        {"timestamp": int((now - ago).timestamp() * 1000), "message": message} for ago, message in events])


def log_errors(aws, now, **cfg):
    check = LogErrorsCheck.model_validate({"check": "log_errors", "log_group": GROUP, "period": "24h"} | cfg)
    return CloudWatchLogErrors(check, aws.clients, clock=lambda: now)


def test_log_errors_counts_matches_in_the_window_and_quotes_the_first(aws):
    now = real_now()
    log_group(aws, now, [
        (timedelta(hours=30), "ERROR yesterday's problem"),
        (timedelta(hours=2), "[ERROR] KeyError: 'flight_id'\nTraceback (most recent call last):"),
        (timedelta(hours=1), "INFO all fine"),
        (timedelta(minutes=1), "ERROR again"),
    ])
    [bad] = log_errors(aws, now).check()
    assert (bad.health, bad.summary) == (
        Health.DOWN, "2 events matching 'ERROR' in the last 1d (max 0); first: [ERROR] KeyError: 'flight_id'")
    [fine] = log_errors(aws, now, max=2).check()
    assert (fine.health, fine.summary) == (Health.OK, "2 events matching 'ERROR' in the last 1d (max 2)")
    [recent] = log_errors(aws, now, period="30m").check()
    assert recent.summary == "1 event matching 'ERROR' in the last 30m (max 0); first: ERROR again"


def test_a_long_log_line_is_shortened(aws):
    now = real_now()
    log_group(aws, now, [(timedelta(minutes=3), "ERROR " + "x" * 500)])
    [finding] = log_errors(aws, now).check()
    first = finding.summary.split("first: ", 1)[1]
    assert len(first) == 200 and first.endswith("…")


def test_a_missing_log_group_is_target_not_found(aws):
    with pytest.raises(TargetNotFoundError, match=f"log group {GROUP}: not found"):
        log_errors(aws, real_now()).check()


# --- kubernetes_pods ---------------------------------------------------------------------------------


NS = "flight-search-prod"


def pod(kube, name, *, ns=NS, phase="Running", ready=True, waiting=None, restarts=0, reason=None, deleting=False):
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    status = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
              "containerStatuses": [{"name": "app", "image": "x", "imageID": "", "ready": ready,
                                     "restartCount": restarts, "state": state}]}
    if reason:
        status["reason"] = reason
    meta = {"name": name, "namespace": ns}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-23T08:59:00Z"
    kube.put("v1/pods", ns, name, {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                                   "spec": {"containers": [{"name": "app", "image": "x"}]}, "status": status})


def pods(kube, **cfg):
    return KubernetesPods(PodsCheck.model_validate({"check": "kubernetes_pods", "namespace": NS} | cfg),
                          kube.api_client(), timeout_s=2)


def test_running_ready_and_finished_pods_are_healthy(kube):
    pod(kube, "search-api-1")
    pod(kube, "search-api-2", restarts=5)
    pod(kube, "migrate-x7", phase="Succeeded", ready=False)
    pod(kube, "crashing-elsewhere", ns="other", waiting="CrashLoopBackOff")
    assert [(f.health, f.summary, f.subject) for f in pods(kube).check()] == [
        (Health.OK, "3/3 pods healthy", f"pods in {NS}")]


def test_unhealthy_pods_are_named_by_kind_of_problem(kube):
    pod(kube, "search-api-1")
    pod(kube, "search-api-2", ready=False, waiting="CrashLoopBackOff", restarts=12)
    pod(kube, "search-api-3", ready=False, waiting="ImagePullBackOff")
    pod(kube, "search-worker-1", phase="Pending", ready=False, reason="Unschedulable")
    pod(kube, "search-worker-2", ready=False)
    pod(kube, "search-cache-1", restarts=7)
    pod(kube, "search-api-old", ready=False, deleting=True)          # on its way out in a rollout
    [finding] = pods(kube).check()
    assert finding.health is Health.DOWN
    assert finding.summary == (
        "of 6 pods, 2 failing: search-api-2 (CrashLoopBackOff), search-api-3 (ImagePullBackOff); "
        "2 not ready: search-worker-1 (Pending: Unschedulable), search-worker-2 (Running, not Ready); "
        "1 restarting: search-cache-1 (7 restarts)")


def test_not_ready_or_restarting_without_a_crash_is_a_warning(kube):
    pod(kube, "search-cache-1", restarts=7)
    pod(kube, "search-evicted", phase="Failed", ready=False, reason="Evicted")
    [finding] = pods(kube).check()
    assert (finding.health, finding.summary) == (
        Health.DEGRADED, "of 2 pods, 1 not ready: search-evicted (Failed: Evicted); 1 restarting: search-cache-1 "
                         "(7 restarts)")
    [tolerant] = pods(kube, max_restarts=10).check()
    assert "restarting" not in tolerant.summary


def test_a_namespace_without_pods_is_a_warning(kube):
    pod(kube, "elsewhere", ns="other")
    [finding] = pods(kube).check()
    assert (finding.health, finding.summary) == (
        Health.DEGRADED, f"no pods in namespace {NS} (is the name right?)")


def test_an_unreachable_cluster_raises_unreachable():
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = closed_port_url()
    source = KubernetesPods(PodsCheck(check="kubernetes_pods", namespace=NS), client.ApiClient(configuration),
                            timeout_s=1)
    with pytest.raises(UnreachableError, match=f"pods in {NS}: cluster did not answer"):
        source.check()


# --- tls_expiry --------------------------------------------------------------------------------------


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path, now=real_now())


@pytest.fixture
def serve():
    servers = []

    def start(leaf):
        servers.append(TlsServer(leaf))
        return servers[-1].port

    yield start
    for server in servers:
        server.close()


def tls(port, *, now, ca_file=None, host="127.0.0.1", **cfg):
    check = TlsExpiryCheck.model_validate({"check": "tls_expiry", "host": host, "port": port,
                                           "ca_file": str(ca_file) if ca_file else None} | cfg)
    return TlsCertificate(check, clock=lambda: now)


def day(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def test_a_certificate_with_time_left_is_ok_or_a_warning_by_threshold(pki, serve):
    leaf = pki.leaf("api", valid_for=timedelta(days=30))
    port = serve(leaf)
    [ok] = tls(port, now=pki.now, ca_file=pki.ca_file, min_days=14).check()
    assert (ok.health, ok.summary) == (Health.OK, f"certificate expires on {day(leaf.not_after)} (in 30 days)")
    [soon] = tls(port, now=pki.now, ca_file=pki.ca_file, min_days=20).check()      # warns below 2 × 20 days
    assert (soon.health, soon.summary) == (
        Health.DEGRADED, f"certificate expires on {day(leaf.not_after)} (in 30 days): fewer than 40 days left")
    [strict] = tls(port, now=pki.now, ca_file=pki.ca_file, min_days=10, warn_days=31).check()
    assert strict.health is Health.DEGRADED and "fewer than 31 days left" in strict.summary


def test_days_left_come_from_the_injected_clock(pki, serve):
    leaf = pki.leaf("api", valid_for=timedelta(days=30))
    port = serve(leaf)
    [later] = tls(port, now=pki.now + timedelta(days=20), ca_file=pki.ca_file, min_days=14).check()
    assert (later.health, later.summary) == (
        Health.DOWN, f"certificate expires on {day(leaf.not_after)} (in 10 days): fewer than 14 days left")


def test_a_certificate_expiring_in_three_days_fails(pki, serve):
    leaf = pki.leaf("soon", valid_for=timedelta(days=3))
    [finding] = tls(serve(leaf), now=pki.now, ca_file=pki.ca_file, min_days=14).check()
    assert (finding.health, finding.summary) == (
        Health.DOWN, f"certificate expires on {day(leaf.not_after)} (in 3 days): fewer than 14 days left")


def test_an_expired_certificate_fails_with_its_date(pki, serve):
    leaf = pki.leaf("old", valid_for=-timedelta(days=2))
    [finding] = tls(serve(leaf), now=pki.now, ca_file=pki.ca_file).check()
    assert (finding.health, finding.summary) == (
        Health.DOWN, f"certificate expired on {day(leaf.not_after)} (2 days ago)")


def test_an_untrusted_certificate_fails(pki, serve, tmp_path):
    leaf = pki.leaf("api", valid_for=timedelta(days=30))
    other_ca = Pki(tmp_path, now=pki.now, name="another CA")
    [finding] = tls(serve(leaf), now=pki.now, ca_file=other_ca.ca_file).check()
    assert finding.health is Health.DOWN
    assert finding.summary == (f"certificate is not trusted (unable to get local issuer certificate); "
                               f"certificate expires on {day(leaf.not_after)} (in 30 days)")


def test_a_certificate_for_another_host_fails(pki, serve):
    leaf = pki.leaf("elsewhere", valid_for=timedelta(days=30), hosts=("api.example.com",))
    [finding] = tls(serve(leaf), now=pki.now, ca_file=pki.ca_file).check()
    assert finding.health is Health.DOWN
    assert finding.summary.startswith("certificate is not valid for this host (IP address mismatch")


def test_nothing_listening_is_connection_refused():
    with pytest.raises(UnreachableError, match="connection refused"):
        tls(closed_port(), now=real_now()).check()


def test_a_server_that_never_answers_times_out():
    with socket.create_server(("127.0.0.1", 0)) as silent:          # accepts TCP (backlog), never speaks TLS
        port = silent.getsockname()[1]
        with pytest.raises(UnreachableError, match=r"127.0.0.1:\d+: no answer within 0.3s"):
            tls(port, now=real_now(), timeout="300ms").check()


def test_an_unreadable_ca_file_is_an_adapter_error(tmp_path, pki, serve):
    port = serve(pki.leaf("api", valid_for=timedelta(days=30)))
    with pytest.raises(AdapterError, match="cannot read ca_file"):
        tls(port, now=pki.now, ca_file=str(tmp_path / "missing.pem")).check()


# --- sql ---------------------------------------------------------------------------------------------


def sql(environ, **cfg):
    return SqlDatabase(SqlCheck.model_validate({"check": "sql", "url_env": "APP_DATABASE_URL"} | cfg),
                       environ=environ)


def test_sqlite_answers_and_says_the_percentage_is_postgresql_only(tmp_path):
    path = tmp_path / "app.db"
    sqlite3.connect(path).close()
    [finding] = sql({"APP_DATABASE_URL": f"sqlite:///{path}"}).check()
    assert finding.health is Health.OK
    assert finding.summary.startswith("sqlite: SELECT 1 answered in ")
    assert finding.summary.endswith(" ms (connections in use are checked on PostgreSQL only)")


def test_a_missing_sqlite_file_is_down_and_not_created(tmp_path):
    path = tmp_path / "nope" / "app.db"
    [finding] = sql({"APP_DATABASE_URL": f"sqlite:///{path}"}).check()
    assert (finding.health, finding.summary) == (Health.DOWN, "sqlite: the database file does not exist")
    assert not path.parent.exists()


@pytest.mark.parametrize("environ", [{}, {"APP_DATABASE_URL": "  "}])
def test_an_unset_variable_says_so(environ):
    with pytest.raises(AdapterError, match="^APP_DATABASE_URL is not set$"):
        sql(environ).check()


@pytest.mark.parametrize("url, message", [
    ("hunter2-not-a-url", "APP_DATABASE_URL does not hold a SQLAlchemy URL"),
    ("postgresql+nodriver://app:hunter2@127.0.0.1/x", "APP_DATABASE_URL: no SQLAlchemy driver 'postgresql+nodriver'"),
])
def test_a_bad_url_is_explained_without_showing_it(url, message):
    with pytest.raises(AdapterError) as err:
        sql({"APP_DATABASE_URL": url}).check()
    assert str(err.value).startswith(message)
    assert "hunter2" not in str(err.value) and err.value.__suppress_context__


def test_refused_connection_is_down_and_never_shows_the_password():
    url = f"postgresql+psycopg://app:S3cr3t%2Fpw@127.0.0.1:{closed_port()}/flights"
    findings = sql({"APP_DATABASE_URL": url}).check()
    assert [(f.health, f.summary) for f in findings] == [(Health.DOWN, "postgresql: connection refused")]
    assert "S3cr3t" not in text_of(findings) and url not in text_of(findings)


def test_a_database_that_accepts_but_never_answers_times_out():
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"postgresql+psycopg://app:S3cr3t@127.0.0.1:{silent.getsockname()[1]}/flights"
        [finding] = sql({"APP_DATABASE_URL": url}, timeout="2s").check()
    assert (finding.health, finding.summary) == (Health.DOWN, "postgresql: no answer within 2s")


@pytest.fixture
def pg_url():
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} not set")
    return url


@pytest.mark.postgres
def test_postgresql_connections_in_use_against_the_limit(pg_url):
    [fine] = sql({"APP_DATABASE_URL": pg_url}).check()
    assert fine.health is Health.OK
    used, limit = _connections(fine.summary)
    assert 1 <= used <= limit
    [full] = sql({"APP_DATABASE_URL": pg_url}, max_connections_pct=0.01).check()
    assert full.health is Health.DOWN and full.summary.endswith(", above 0.01%")


@pytest.mark.postgres
def test_postgresql_error_text_is_scrubbed_of_the_password(pg_url):
    from sqlalchemy.engine import make_url

    base = make_url(pg_url)
    # The password is also the database name, so the server's own message ("database ... does not exist")
    # carries it: it must come out as ***.
    url = base.set(password="pw-Zq81x", database="pw-Zq81x", query={}).render_as_string(hide_password=False)
    findings = sql({"APP_DATABASE_URL": url}).check()
    assert [f.health for f in findings] == [Health.DOWN]
    assert 'database "***" does not exist' in findings[0].summary
    assert "pw-Zq81x" not in text_of(findings)


def _connections(summary: str) -> tuple[int, int]:
    # "postgresql: 3 of 100 connections in use (3%)"
    words = summary.split()
    return int(words[1]), int(words[3])


# --- config ------------------------------------------------------------------------------------------


ISSUE_YAML = """
integrations: {aws: {}, kubernetes: {}}
checklists:
  morning:
    checks:
      - {check: cloudwatch_alarms}
      - {check: cloudwatch_alarms, prefix: "prod-"}
      - {check: metric, namespace: AWS/Lambda, name: Errors, dimensions: {FunctionName: weather-monitor-production},
         stat: Sum, period: 1h, max: 3}
      - {check: log_errors, log_group: /aws/lambda/weather-monitor-production, pattern: ERROR, period: 24h, max: 0}
      - {check: kubernetes_pods, namespace: flight-search-prod}
      - {check: tls_expiry, host: api.example.com, min_days: 14}
      - {check: sql, url_env: APP_DATABASE_URL, max_connections_pct: 80}
"""


def test_the_issue_examples_parse_with_their_defaults():
    checks = parse_config(yaml.safe_load(ISSUE_YAML)).checklists["morning"].checks
    assert [c.check for c in checks] == ["cloudwatch_alarms", "cloudwatch_alarms", "metric", "log_errors",
                                         "kubernetes_pods", "tls_expiry", "sql"]
    assert [c.label for c in checks] == [
        "CloudWatch alarms", "CloudWatch alarms named prod-…",
        "AWS/Lambda Errors (FunctionName=weather-monitor-production)",
        "ERROR in /aws/lambda/weather-monitor-production", "pods in flight-search-prod",
        "TLS certificate of api.example.com", "database at $APP_DATABASE_URL"]
    metric_check, logs, pods_check, cert, db = checks[2:]
    assert isinstance(metric_check, MetricCheck) and isinstance(logs, LogErrorsCheck)
    assert isinstance(pods_check, PodsCheck) and isinstance(cert, TlsExpiryCheck) and isinstance(db, SqlCheck)
    assert (metric_check.period, metric_check.max, metric_check.min) == (timedelta(hours=1), 3, None)
    assert (logs.period, logs.max) == (timedelta(hours=24), 0)
    assert pods_check.max_restarts == 5
    assert (cert.port, cert.min_days, cert.warn_after_days, cert.ca_file, cert.timeout) == (
        443, 14, 28, None, timedelta(seconds=5))
    assert (db.max_connections_pct, db.timeout) == (80, timedelta(seconds=5))


def problems(raw):
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    return "\n".join(err.value.problems)


@pytest.mark.parametrize("check", [
    {"check": "cloudwatch_alarms"},
    {"check": "metric", "namespace": "AWS/Lambda", "name": "Errors", "stat": "Sum", "max": 1},
    {"check": "log_errors", "log_group": GROUP},
])
def test_aws_kinds_need_integrations_aws(check):
    raw = {"checklists": {"m": {"checks": [{"check": "manual", "text": "look"}, check]}}}
    assert f"checklists.m.checks[1]: {check['check']} needs integrations.aws" in problems(raw)


def test_kubernetes_pods_needs_integrations_kubernetes():
    raw = {"integrations": {"aws": {}},
           "checklists": {"m": {"checks": [{"check": "kubernetes_pods", "namespace": NS}]}}}
    assert "checklists.m.checks[0]: kubernetes_pods needs integrations.kubernetes" in problems(raw)


@pytest.mark.parametrize("check, expected", [
    ({"check": "metric", "namespace": "AWS/Lambda", "name": "Errors", "stat": "Sum"},
     "checklists.m.checks[0].metric: give max:, min: or both"),
    ({"check": "metric", "namespace": "AWS/Lambda", "name": "Errors", "stat": "p99", "max": 1},
     "checklists.m.checks[0].metric.stat: Input should be 'Sum', 'Average'"),
    ({"check": "metric", "namespace": "AWS/Lambda", "name": "Errors", "stat": "Sum", "min": 5, "max": 1},
     "checklists.m.checks[0].metric: min (5) is above max (1)"),
    ({"check": "metric", "namespace": "AWS/Lambda", "name": "Errors", "stat": "Sum", "max": 1, "period": "30s"},
     "checklists.m.checks[0].metric.period: must be between 60s and"),
    ({"check": "log_errors", "log_group": GROUP, "max": -1},
     "checklists.m.checks[0].log_errors.max: Input should be greater than or equal to 0"),
    ({"check": "tls_expiry", "host": "https://api.example.com/"},
     "checklists.m.checks[0].tls_expiry.host: String should match pattern"),
    ({"check": "tls_expiry", "host": "api.example.com", "min_days": 14, "warn_days": 7},
     "checklists.m.checks[0].tls_expiry: warn_days (7) must not be below min_days (14)"),
    ({"check": "sql", "url_env": "postgresql://app:pw@db/x"},
     "checklists.m.checks[0].sql.url_env: String should match pattern"),
    ({"check": "sql", "url_env": "APP_DATABASE_URL", "max_connections_pct": 120},
     "checklists.m.checks[0].sql.max_connections_pct: Input should be less than or equal to 100"),
    ({"check": "kubernetes_pods", "namespace": NS, "max_restart": 3},
     "checklists.m.checks[0].kubernetes_pods.max_restart: Extra inputs are not permitted"),
])
def test_bad_check_settings_name_the_key(check, expected):
    raw = {"integrations": {"aws": {}, "kubernetes": {}}, "checklists": {"m": {"checks": [check]}}}
    assert expected in problems(raw)
