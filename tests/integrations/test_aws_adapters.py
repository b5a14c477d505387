"""The AWS adapters against moto in server mode over HTTP; botocore's Stubber only where moto has no API."""
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber

from bot.config import AwsSettings, Beanstalk, CloudFormation
from bot.config import LambdaAlias as LambdaCfg
from bot.config import RdsInstance as RdsCfg
from integrations.aws import AwsClients
from integrations.aws.beanstalk import BeanstalkEnvironment
from integrations.aws.cloudformation import CloudFormationStack
from integrations.aws.cloudwatch import CloudWatchAlarms
from integrations.aws.lambda_ import LambdaAlias
from integrations.aws.rds import RdsInstance
from integrations.aws.sqs import SqsDeadLetterQueue
from integrations.base import (
    AccessDeniedError,
    Health,
    NotPossibleError,
    Plan,
    TargetNotFoundError,
    UnreachableError,
)
from integrations.polling import Poller
from tests.fakes.kube import closed_port_url


class NoWait:
    """A Poller clock that jumps instead of sleeping."""

    def __init__(self):
        self.now, self.sleeps = 0.0, 0

    def sleep(self, s):
        self.sleeps += 1
        self.now += s

    def poller(self):
        return Poller(interval_s=10, sleep=self.sleep, monotonic=lambda: self.now)


def test_alarms_in_alarm_make_the_service_down(aws):
    aws.alarm("weather-monitor-errors-production")
    aws.alarm("weather-monitor-dlq-production", state="ALARM", reason="Threshold Crossed: 1 datapoint [5.0]")
    [finding] = CloudWatchAlarms(["weather-monitor-errors-production", "weather-monitor-dlq-production"],
                                 aws.clients).check()
    assert finding.health is Health.DOWN
    assert finding.summary == "1 in ALARM: weather-monitor-dlq-production: Threshold Crossed: 1 datapoint [5.0]"


def test_alarms_ok_and_missing(aws):
    aws.alarm("a")
    assert CloudWatchAlarms(["a"], aws.clients).check()[0].health is Health.OK
    [finding] = CloudWatchAlarms(["a", "typo"], aws.clients).check()
    assert (finding.health, finding.summary) == (Health.DEGRADED, "alarm typo not found")


def test_dead_letter_queue_depth(aws):
    aws.queue("weather-monitor-dlq-production", messages=3)
    aws.queue("empty-dlq")
    assert SqsDeadLetterQueue("weather-monitor-dlq-production", aws.clients).check()[0].summary == \
        "3 message(s) waiting in the DLQ"
    assert SqsDeadLetterQueue("empty-dlq", aws.clients).check()[0].health is Health.OK
    with pytest.raises(TargetNotFoundError):
        SqsDeadLetterQueue("nope", aws.clients).check()


def test_lambda_rollback_points_the_alias_at_the_previous_version(aws):
    aws.lambda_function("weather-monitor-production", versions=3)
    target = LambdaAlias(LambdaCfg(function="weather-monitor-production", alias="live"), aws.clients)
    assert target.check()[0].summary == "version 3, active"
    plan = target.plan_rollback()
    assert (plan.current, plan.desired) == ("alias live → version 3", "alias live → version 2")
    outcome = target.apply(plan, progress=lambda _: None)
    assert outcome.ok and outcome.summary == "alias live now points at version 2"
    alias = aws.seed("lambda").get_alias(FunctionName="weather-monitor-production", Name="live")
    assert alias["FunctionVersion"] == "2"


def test_lambda_rollback_to_a_named_version_and_limits(aws):
    aws.lambda_function("fn", versions=3)
    target = LambdaAlias(LambdaCfg(function="fn"), aws.clients)
    assert target.plan_rollback(to="1").desired == "alias live → version 1"
    with pytest.raises(TargetNotFoundError, match="no published version 9"):
        target.plan_rollback(to="9")
    aws.lambda_function("first", versions=1)
    with pytest.raises(NotPossibleError, match="no published version before 1"):
        LambdaAlias(LambdaCfg(function="first"), aws.clients).plan_rollback()


def test_lambda_apply_refuses_when_the_alias_moved(aws):
    aws.lambda_function("fn", versions=3)
    target = LambdaAlias(LambdaCfg(function="fn"), aws.clients)
    plan = target.plan_rollback()
    aws.seed("lambda").update_alias(FunctionName="fn", Name="live", FunctionVersion="1")
    outcome = target.apply(plan, progress=lambda _: None)
    assert not outcome.ok and "moved to version 1" in outcome.summary


def rds(aws, *, now=None, poller=None, name="flight-schedule-pro-prod"):
    clock = (lambda: now) if now else (lambda: datetime.now(UTC))
    return RdsInstance("prod-db", RdsCfg(instance=name), aws.clients, max_backup_age=timedelta(hours=26),
                       clock=clock, poller=poller)


def test_rds_backup_creates_exactly_one_available_snapshot(aws):
    aws.rds_instance("flight-schedule-pro-prod")
    target = rds(aws, now=datetime(2026, 11, 23, 3, 15, tzinfo=UTC))
    plan = target.plan_backup()
    assert plan.desired == "manual snapshot opsbot-prod-db-20261123-031500"
    outcome = target.apply(plan, progress=lambda _: None)
    assert outcome.ok and outcome.summary.startswith("snapshot opsbot-prod-db-20261123-031500 available (20 GiB")
    manual = aws.seed("rds").describe_db_snapshots(DBInstanceIdentifier="flight-schedule-pro-prod",
                                                   SnapshotType="manual")["DBSnapshots"]
    assert [(s["DBSnapshotIdentifier"], s["Status"]) for s in manual] == [
        ("opsbot-prod-db-20261123-031500", "available")]


def test_rds_status_and_snapshot_age(aws):
    aws.rds_instance("flight-schedule-pro-prod")
    instance, snapshots = rds(aws).check()
    assert (instance.health, instance.summary) == (Health.OK, "instance available")
    assert snapshots.health is Health.OK and snapshots.summary.startswith("newest snapshot")
    later = rds(aws, now=datetime.now(UTC) + timedelta(days=3))
    assert later.check()[1].health is Health.DEGRADED and "(limit 1d 2h)" in later.check()[1].summary


def test_rds_unknown_instance(aws):
    with pytest.raises(TargetNotFoundError, match="rds ghost"):
        rds(aws, name="ghost").check()


def test_rds_snapshot_that_fails_is_reported(aws):
    aws.rds_instance("flight-schedule-pro-prod")
    target = rds(aws, now=datetime(2026, 11, 23, 3, 15, tzinfo=UTC))
    client = aws.clients.client("rds")
    snap = "opsbot-prod-db-20261123-031500"
    # Stubber: moto makes every snapshot `available` at once, so a failing one has to be scripted.
    with Stubber(client) as stub:
        stub.add_response("create_db_snapshot", {"DBSnapshot": {"DBSnapshotIdentifier": snap, "Status": "creating"}})
        stub.add_response("describe_db_snapshots", {"DBSnapshots": [{"DBSnapshotIdentifier": snap,
                                                                     "Status": "creating"}]})
        stub.add_response("describe_db_snapshots",
                          {"DBSnapshots": [{"DBSnapshotIdentifier": snap, "Status": "failed"}]})
        clock = NoWait()
        target.poller = clock.poller()
        outcome = target.apply(Plan("backup", "rds", "", "", {"snapshot": snap}), progress=lambda _: None)
    assert not outcome.ok and outcome.summary == f"snapshot {snap} ended failed" and clock.sleeps == 1


def test_beanstalk_status_and_rollback(aws):
    # moto implements environments but not application versions or update_environment: Stubber for those.
    eb = aws.clients.client("elasticbeanstalk")
    env = {"EnvironmentName": "awning-prod", "ApplicationName": "awning-wo", "VersionLabel": "v42",
           "Status": "Ready", "Health": "Green"}
    versions = {"ApplicationVersions": [
        {"ApplicationName": "awning-wo", "VersionLabel": label, "DateCreated": datetime(2026, 11, day, tzinfo=UTC)}
        for label, day in (("v40", 1), ("v41", 10), ("v42", 20))]}
    target = BeanstalkEnvironment(Beanstalk(environment="awning-prod", application="awning-wo"), aws.clients,
                                  poller=NoWait().poller())
    with Stubber(eb) as stub:
        stub.add_response("describe_environments", {"Environments": [{**env, "Health": "Yellow"}]})
        assert target.check()[0].summary == "Yellow, Ready, version v42"
        stub.add_response("describe_environments", {"Environments": [env]})
        stub.add_response("describe_application_versions", versions)
        plan = target.plan_rollback()
        assert (plan.current, plan.desired) == ("version v42", "version v41")
        stub.add_response("describe_environments", {"Environments": [env]})
        stub.add_response("update_environment", {"EnvironmentName": "awning-prod"},
                          {"EnvironmentName": "awning-prod", "VersionLabel": "v41"})
        stub.add_response("describe_environments", {"Environments": [{**env, "Status": "Updating"}]})
        stub.add_response("describe_environments", {"Environments": [{**env, "VersionLabel": "v41"}]})
        outcome = target.apply(plan, progress=lambda _: None)
        stub.assert_no_pending_responses()
    assert outcome.ok and outcome.summary == "beanstalk awning-prod runs version v41, health Green"


def test_cloudformation_status_and_rollback_by_state(aws):
    cfn = aws.seed("cloudformation")
    cfn.create_stack(StackName="FlightReschedulerWeatherMonitor-production",
                     TemplateBody='{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}')
    target = CloudFormationStack(CloudFormation(stack="FlightReschedulerWeatherMonitor-production"), aws.clients,
                                 poller=NoWait().poller())
    assert target.check()[0].summary == "CREATE_COMPLETE"
    with pytest.raises(NotPossibleError, match="nothing to roll back"):
        target.plan_rollback()
    # moto has no rollback_stack / cancel_update_stack: Stubber scripts a failed update being rolled back.
    client = aws.clients.client("cloudformation")
    stack = {"StackName": "FlightReschedulerWeatherMonitor-production", "CreationTime": datetime(2026, 1, 1)}
    with Stubber(client) as stub:
        stub.add_response("describe_stacks", {"Stacks": [{**stack, "StackStatus": "UPDATE_FAILED"}]})
        plan = target.plan_rollback()
        assert (plan.current, plan.desired) == ("UPDATE_FAILED", "roll back to the last good state")
        stub.add_response("describe_stacks", {"Stacks": [{**stack, "StackStatus": "UPDATE_FAILED"}]})
        stub.add_response("rollback_stack", {}, {"StackName": "FlightReschedulerWeatherMonitor-production"})
        stub.add_response("describe_stacks", {"Stacks": [{**stack, "StackStatus": "UPDATE_ROLLBACK_IN_PROGRESS"}]})
        stub.add_response("describe_stacks", {"Stacks": [{**stack, "StackStatus": "UPDATE_ROLLBACK_COMPLETE"}]})
        outcome = target.apply(plan, progress=lambda _: None)
    assert outcome.ok and outcome.summary.endswith("is UPDATE_ROLLBACK_COMPLETE")


def test_unreachable_aws_fails_fast_with_the_cause(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed_port_url())
    for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}.items():
        monkeypatch.setenv(key, value)
    clients = AwsClients(AwsSettings(region="us-east-1", connect_timeout="500ms", read_timeout="1s"))
    started = time.monotonic()
    with pytest.raises(UnreachableError, match="AWS did not answer"):
        CloudWatchAlarms(["a"], clients).check()
    assert time.monotonic() - started < clients.timeout_s


def test_expired_credentials_are_access_denied(aws):
    client = aws.clients.client("cloudwatch")
    # Stubber: moto accepts any credentials unless its IAM auth mode is switched on for the whole server.
    with Stubber(client) as stub:
        stub.add_client_error("describe_alarms", service_error_code="ExpiredToken",
                              service_message="The security token included in the request is expired",
                              http_status_code=403)
        with pytest.raises(AccessDeniedError, match=r"AWS credentials expired or not allowed \(ExpiredToken\)"):
            CloudWatchAlarms(["a"], aws.clients).check()
