"""The morning report as the issue states it: the clock frozen and stepped to 09:00 in Europe/Berlin across
the March 2026 DST change; one report a morning, each check's result coming from the real emulators: moto
(CloudWatch alarms and metrics), kmock (pods, nodes, the backup CronJob's Jobs) and local HTTP servers."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from bot.delivery import RetryPolicy
from schedules.checklists import history, run_checklist
from schedules.scheduler import ScheduleRunner
from tests.fakes.aws import aws, moto_server  # noqa: F401  (fixtures)
from tests.fakes.kube import kube, kubeconfig  # noqa: F401  (fixture)
from tests.schedules.test_scheduler import REAL_TIME_FOR, reports, settled

FN = "weather-monitor-production"
NS = "flight-search-prod"
# 09:00 in Berlin: CET (UTC+1) on Saturday, CEST (UTC+2) from Sunday 29 March 2026, 02:00.
NINES = [datetime(2026, 3, 28, 8, 0, tzinfo=UTC), datetime(2026, 3, 29, 7, 0, tzinfo=UTC),
         datetime(2026, 3, 30, 7, 0, tzinfo=UTC)]


@pytest.fixture
def world(aws, kube, tmp_path):  # noqa: F811
    aws.alarm("prod-api-5xx", state="ALARM", reason="Threshold Crossed: 12 5xx in 5 minutes")
    aws.alarm("prod-db-cpu", state="OK")
    aws.seed("cloudwatch").put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Errors", "Dimensions": [{"Name": "FunctionName", "Value": FN}],
         "Timestamp": NINES[0] - timedelta(minutes=m), "Value": v} for m, v in ((10, 4), (40, 1))])
    kube.seed_pod("search-api-1", NS)
    kube.seed_pod("search-api-2", NS, waiting="CrashLoopBackOff", restarts=9)
    kube.seed_node("node-a")
    kube.seed_node("node-b")
    kube.put("batch/v1/jobs", "prod", "postgres-backup-29000", {   # last night's backup: Sat 03:00 Berlin
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "postgres-backup-29000", "namespace": "prod"},
        "spec": {"template": {"spec": {"containers": []}}},
        "status": {"succeeded": 1, "completionTime": "2026-03-28T02:00:00Z"}})
    return kubeconfig(tmp_path, kube.url)


def config(kubeconfig_path, targets):
    return {
        "timezone": "Europe/Berlin", "channels": {"default": "C0ONCALL"},
        "integrations": {"aws": {"region": "us-east-1", "connect_timeout": "1s", "read_timeout": "3s"},
                         "kubernetes": {"kubeconfig": kubeconfig_path, "context": "prod", "timeout": "2s"}},
        "services": [{"name": "backend", "health": {"url": f"{targets.url}/healthy"}},
                     {"name": "search", "health": {"url": f"{targets.url}/unhealthy"}}],
        "databases": [{"name": "prod-db", "kubernetes_cronjob": {"name": "postgres-backup", "namespace": "prod"}}],
        "checklists": {"morning": {"schedule": "0 9 * * *", "title": "Morning health report", "checks": [
            {"check": "http", "service": "backend"},
            {"check": "http", "service": "search"},
            {"check": "cloudwatch_alarms", "prefix": "prod-"},
            {"check": "metric", "namespace": "AWS/Lambda", "name": "Errors", "dimensions": {"FunctionName": FN},
             "stat": "Sum", "period": "1h", "max": 3},
            {"check": "kubernetes_pods", "namespace": NS},
            {"check": "kubernetes_nodes"},
            {"check": "backup_age", "database": "prod-db", "max_age": "26h"},
            {"check": "manual", "text": "Review the Grafana error-rate dashboard"}]}}}


def test_each_morning_at_nine_one_report_with_every_real_result(make_runtime, fake_slack, health_targets, world):
    rt = make_runtime(config(world, health_targets), fake=fake_slack, real_clock=True)
    # One run before freezing: the kubernetes client imports its (pydantic) models on first use, and a model
    # class built while datetime is freezegun's FakeDatetime cannot be built at all.
    assert run_checklist(rt, "morning", scheduled_for=rt.clock(), trigger="manual") is not None
    with freeze_time(NINES[0] - timedelta(hours=2), real_asyncio=True, ignore=REAL_TIME_FOR) as frozen:
        runner = ScheduleRunner(rt, policy=RetryPolicy(attempts=3, backoff_s=0.1))
        try:
            assert runner.step()
            for day, nine in enumerate(NINES, start=1):
                frozen.move_to(nine - timedelta(seconds=1))
                runner.wakeup()
                assert runner.next_run("checklist", "morning") == nine
                frozen.move_to(nine)
                runner.wakeup()
                settled(runner, day)
                assert len(reports(fake_slack)) == day
        finally:
            runner.close()
    runs = sorted((r for r in history(rt, "morning") if r.trigger == "schedule"), key=lambda r: r.scheduled_for)
    assert [r.scheduled_for for r in runs] == NINES
    by_day = [{i.kind + ":" + i.label: (i.result, i.reason) for i in r.items} for r in runs]
    for items in by_day:
        assert items["http:backend"] == ("ok", None)
        assert items["http:search"][0] == "fail" and "HTTP 503" in items["http:search"][1]
        assert items["cloudwatch_alarms:CloudWatch alarms named prod-…"] == (
            "fail", "cloudwatch: 1 alarm starting 'prod-' in ALARM: prod-api-5xx")
        assert items[f"kubernetes_pods:pods in {NS}"] == (
            "fail", "kubernetes: of 2 pods, 1 failing: search-api-2 (CrashLoopBackOff)")
        assert items["kubernetes_nodes:Kubernetes nodes"] == ("ok", None)
    metric = f"metric:AWS/Lambda Errors (FunctionName={FN})"
    assert by_day[0][metric] == ("fail", "cloudwatch: Sum over the last 1h: 5, above max 3")   # Saturday's errors
    assert by_day[1][metric][0] == "warn" and "no datapoints" in by_day[1][metric][1]
    backup = "backup_age:backup of prod-db"
    assert by_day[0][backup] == ("ok", None)                                          # 6 h old on Saturday
    assert by_day[1][backup] == ("warn", "kubernetes: newest backup 1d 5h old (limit 1d 2h)")   # 29 h on Sunday
    heads = [p["blocks"][0]["text"]["text"] for p in reports(fake_slack)]
    assert [h.split(" · ")[1].split("\n")[0] for h in heads] == [
        "Sat 28 Mar 09:00 Europe/Berlin", "Sun 29 Mar 09:00 Europe/Berlin", "Mon 30 Mar 09:00 Europe/Berlin"]
    assert "4 failed, 3 passed, 1 to do" in heads[0] and "3 failed, 2 warning, 2 passed, 1 to do" in heads[1]
