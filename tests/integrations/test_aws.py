"""The AWS adapters against moto in server mode over loopback HTTP.

botocore's Stubber (through PartialStubber, which answers only the named operations while every other
call still goes to moto) is used only where moto cannot serve the call: Elastic Beanstalk
DescribeApplicationVersions / UpdateEnvironment and CloudFormation RollbackStack / CancelUpdateStack /
ContinueUpdateRollback are not implemented, and an RDS snapshot is `available` the moment it is created,
so a failing or slow one has to be scripted. Each such test says so where it does it.
"""
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from bot.config.services import AwsSettings, BeanstalkConfig, CloudFormationConfig
from bot.config.services import LambdaAliasConfig as LambdaCfg
from bot.config.services import RdsInstanceConfig as RdsCfg
from integrations.aws import AwsClients
from integrations.aws.beanstalk import BeanstalkEnvironment
from integrations.aws.cloudformation import CloudFormationStack
from integrations.aws.cloudwatch import CloudWatchAlarms
from integrations.aws.errors import translated
from integrations.aws.lambda_ import LambdaAlias
from integrations.aws.rds import RdsInstance
from integrations.aws.sqs import SqsDeadLetterQueue
from integrations.base import (
    AccessDeniedError,
    AdapterError,
    Health,
    NotPossibleError,
    TargetNotFoundError,
    ThrottledError,
    UnreachableError,
)
from tests.fakes.aws import (  # noqa: F401  (aws, moto_server: fixtures)
    Aws,
    FakeTime,
    PartialStubber,
    aws,
    closed_loopback_url,
    moto_server,
)

FN = "weather-monitor-production"
DB = "flight-schedule-pro-prod"
STACK = "FlightReschedulerWeatherMonitor-production"


def no_progress(line: str) -> None:
    pass


# --- CloudWatch alarms -------------------------------------------------------------------------------


def test_alarm_ok(aws):  # noqa: F811
    aws.alarm("weather-monitor-errors-production")
    [finding] = CloudWatchAlarms(["weather-monitor-errors-production"], aws.clients).check()
    assert (finding.subject, finding.health, finding.summary) == (
        "alarm weather-monitor-errors-production", Health.OK, "1 alarm(s) OK")


def test_alarm_in_alarm_makes_the_service_down_with_its_reason(aws):  # noqa: F811
    aws.alarm("weather-monitor-errors-production")
    aws.alarm("weather-monitor-dlq-production", state="ALARM", reason="Threshold Crossed: 1 datapoint [5.0]")
    [finding] = CloudWatchAlarms(["weather-monitor-errors-production", "weather-monitor-dlq-production"],
                                 aws.clients).check()
    assert finding.health is Health.DOWN
    assert finding.subject == "alarms weather-monitor-errors-production, weather-monitor-dlq-production"
    assert finding.summary == "weather-monitor-dlq-production in ALARM: Threshold Crossed: 1 datapoint [5.0]"


def test_alarm_reason_is_shortened_and_missing_or_unsure_alarms_are_degraded(aws):  # noqa: F811
    aws.alarm("firing", state="ALARM", reason="x" * 500)
    aws.alarm("new", state="INSUFFICIENT_DATA")
    [down] = CloudWatchAlarms(["firing"], aws.clients).check()
    assert down.summary == "firing in ALARM: " + "x" * 99 + "…" and down.details["firing"] == "x" * 500
    [unsure] = CloudWatchAlarms(["new", "typo"], aws.clients).check()
    assert (unsure.health, unsure.summary) == (Health.DEGRADED, "new has insufficient data; alarm typo not found")


# --- SQS dead-letter queue ---------------------------------------------------------------------------


def test_dead_letter_queue_depth(aws):  # noqa: F811
    aws.queue("weather-monitor-dlq-production", messages=12)
    aws.queue("ai-rescheduler-dlq-production", messages=1)
    aws.queue("empty-dlq")
    [full] = SqsDeadLetterQueue("weather-monitor-dlq-production", aws.clients).check()
    assert (full.subject, full.health, full.summary) == (
        "queue weather-monitor-dlq-production", Health.DEGRADED, "12 messages waiting in the DLQ")
    assert SqsDeadLetterQueue("ai-rescheduler-dlq-production", aws.clients).check()[0].summary == \
        "1 message waiting in the DLQ"
    assert SqsDeadLetterQueue("empty-dlq", aws.clients).check()[0].health is Health.OK


def test_missing_queue_is_target_not_found(aws):  # noqa: F811
    with pytest.raises(TargetNotFoundError, match=r"^queue nope: not found \(AWS.SimpleQueueService.NonExistentQueue"):
        SqsDeadLetterQueue("nope", aws.clients).check()


# --- Lambda alias ------------------------------------------------------------------------------------


def live_alias(cloud: Aws) -> str:
    return cloud.seed("lambda").get_alias(FunctionName=FN, Name="live")["FunctionVersion"]


def test_lambda_status_names_the_version_behind_the_alias(aws):  # noqa: F811
    aws.lambda_function(FN, versions=4, alias_version=3, canary={"4": 0.1})
    [finding] = LambdaAlias(LambdaCfg(function=FN, alias="live"), aws.clients).check()
    assert (finding.subject, finding.health, finding.summary) == (
        f"lambda {FN}:live", Health.OK, "version 3 (+10% to version 4), active")


def test_lambda_rollback_points_the_alias_at_the_previous_version(aws):  # noqa: F811
    aws.lambda_function(FN, versions=3)
    target = LambdaAlias(LambdaCfg(function=FN, alias="live"), aws.clients)
    plan = target.plan_rollback()
    assert (plan.target, plan.current, plan.desired) == (f"lambda {FN}:live", "alias live -> version 3",
                                                         "alias live -> version 2")
    assert live_alias(aws) == "3"                                   # planning changes nothing
    lines: list[str] = []
    outcome = target.rollback(plan, progress=lines.append)
    assert (outcome.ok, outcome.summary) == (True, "alias live now points at version 2")
    assert live_alias(aws) == "2" and lines == [f"Alias live of {FN} now points at version 2."]


def test_lambda_rollback_ends_a_canary(aws):  # noqa: F811
    aws.lambda_function(FN, versions=4, alias_version=3, canary={"4": 0.25})
    target = LambdaAlias(LambdaCfg(function=FN, alias="live"), aws.clients)
    plan = target.plan_rollback()
    assert plan.current == "alias live -> version 3 (+25% to version 4)" and plan.desired == "alias live -> version 2"
    assert target.rollback(plan, progress=no_progress).ok
    alias = aws.seed("lambda").get_alias(FunctionName=FN, Name="live")
    assert alias["FunctionVersion"] == "2"
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


def test_lambda_rollback_to_a_named_version(aws):  # noqa: F811
    aws.lambda_function(FN, versions=3)
    target = LambdaAlias(LambdaCfg(function=FN, alias="live"), aws.clients)
    plan = target.plan_rollback(to="1")
    assert plan.desired == "alias live -> version 1"
    assert target.rollback(plan, progress=no_progress).ok and live_alias(aws) == "1"
    with pytest.raises(TargetNotFoundError, match=r"no published version 9 \(latest published: 1, 2, 3\)"):
        target.plan_rollback(to="9")
    with pytest.raises(NotPossibleError, match="already points at version 1"):
        target.plan_rollback(to="1")


def test_lambda_without_an_earlier_version_cannot_roll_back(aws):  # noqa: F811
    aws.lambda_function(FN, versions=1)
    with pytest.raises(NotPossibleError, match=f"lambda {FN}:live: no published version before 1"):
        LambdaAlias(LambdaCfg(function=FN, alias="live"), aws.clients).plan_rollback()


def test_lambda_apply_refuses_when_the_alias_moved_since_the_plan(aws):  # noqa: F811
    aws.lambda_function(FN, versions=3)
    target = LambdaAlias(LambdaCfg(function=FN, alias="live"), aws.clients)
    plan = target.plan_rollback()
    aws.seed("lambda").update_alias(FunctionName=FN, Name="live", FunctionVersion="1")   # someone else
    outcome = target.rollback(plan, progress=no_progress)
    assert (outcome.ok, outcome.summary) == (False, f"lambda {FN}:live moved to version 1 since the plan; "
                                                    "nothing was done")
    assert live_alias(aws) == "1"


def test_unknown_lambda_function(aws):  # noqa: F811
    with pytest.raises(TargetNotFoundError, match=r"^lambda ghost:live: not found \(ResourceNotFoundException\)"):
        LambdaAlias(LambdaCfg(function="ghost", alias="live"), aws.clients).check()


# --- RDS ---------------------------------------------------------------------------------------------


def rds(cloud: Aws, *, now: datetime, name: str = DB, time_: FakeTime | None = None,
        timeout: str = "30m") -> RdsInstance:
    fake = time_ or FakeTime()
    return RdsInstance("prod-db", RdsCfg(instance=name, snapshot_timeout=timeout), cloud.clients,
                       max_backup_age=timedelta(hours=26), clock=lambda: now,
                       sleep=fake.sleep, monotonic=fake.monotonic)


def manual_snapshots(cloud: Aws) -> list[tuple[str, str]]:
    found = cloud.seed("rds").describe_db_snapshots(DBInstanceIdentifier=DB, SnapshotType="manual")["DBSnapshots"]
    return [(s["DBSnapshotIdentifier"], s["Status"]) for s in found]


def test_rds_status_and_snapshot_age_against_the_clock(aws):  # noqa: F811
    aws.rds_instance(DB)
    # moto takes an automated snapshot when the instance is created; its time is moto's clock, not ours
    [auto] = aws.seed("rds").describe_db_snapshots(DBInstanceIdentifier=DB)["DBSnapshots"]
    taken = auto["SnapshotCreateTime"]
    instance, backup = rds(aws, now=taken + timedelta(hours=2)).check()
    assert (instance.subject, instance.health, instance.summary) == (f"rds {DB}", Health.OK, "instance available")
    assert (backup.subject, backup.health, backup.summary) == (
        f"rds {DB} snapshots", Health.OK, "newest snapshot 2h old (automated)")
    [_, late] = rds(aws, now=taken + timedelta(hours=27)).check()
    assert (late.health, late.summary) == (Health.DEGRADED, "newest snapshot 1d 3h old (automated), older than 1d 2h")


def test_rds_backup_creates_exactly_one_available_snapshot(aws):  # noqa: F811
    aws.rds_instance(DB)
    fake = FakeTime()
    target = rds(aws, now=datetime(2026, 11, 23, 3, 15, tzinfo=UTC), time_=fake)
    plan = target.plan_backup()
    assert plan.desired == "manual snapshot opsbot-prod-db-20261123T031500Z"
    assert manual_snapshots(aws) == []                              # planning changes nothing
    outcome = target.backup(plan, progress=no_progress)
    # RDS (and moto) keep identifiers in lower case
    assert (outcome.ok, outcome.summary) == (True, "snapshot opsbot-prod-db-20261123t031500z available "
                                                   "(20 GiB, took 0s)")
    assert manual_snapshots(aws) == [("opsbot-prod-db-20261123t031500z", "available")]
    assert fake.slept == []                                         # moto: available at once, no wait


def test_rds_unknown_instance(aws):  # noqa: F811
    target = rds(aws, now=datetime(2026, 11, 23, tzinfo=UTC), name="ghost")
    with pytest.raises(TargetNotFoundError, match=r"^rds ghost: not found \(DBInstanceNotFound\)"):
        target.check()
    with pytest.raises(TargetNotFoundError, match="rds ghost"):
        target.plan_backup()


def test_rds_snapshot_that_fails_is_reported(aws):  # noqa: F811
    aws.rds_instance(DB)
    fake = FakeTime()
    target = rds(aws, now=datetime(2026, 11, 23, 3, 15, tzinfo=UTC), time_=fake)
    plan = target.plan_backup()
    snap = "opsbot-prod-db-20261123t031500z"
    # Stubber on DescribeDBSnapshots only: moto makes every snapshot `available` at once, so a failing one is
    # scripted. CreateDBSnapshot still goes to moto.
    with PartialStubber(aws.clients.client("rds"), "DescribeDBSnapshots") as stub:
        for status in ("creating", "failed"):
            stub.add_response("describe_db_snapshots", {"DBSnapshots": [{"DBSnapshotIdentifier": snap,
                                                                         "Status": status}]},
                              {"DBSnapshotIdentifier": plan.name})
        outcome = target.backup(plan, progress=no_progress)
        stub.assert_no_pending_responses()
    assert (outcome.ok, outcome.summary) == (False, f"snapshot {snap} ended failed")
    assert fake.slept == [15.0] and len(manual_snapshots(aws)) == 1


def test_rds_snapshot_that_takes_too_long_times_out(aws):  # noqa: F811
    aws.rds_instance(DB)
    fake = FakeTime()
    target = rds(aws, now=datetime(2026, 11, 23, 3, 15, tzinfo=UTC), time_=fake, timeout="1m")
    plan = target.plan_backup()
    # Stubber on DescribeDBSnapshots only (see above): the snapshot stays `creating`.
    with PartialStubber(aws.clients.client("rds"), "DescribeDBSnapshots") as stub:
        for _ in range(5):                          # at 0, 15, 30, 45 and 60 s of fake time
            stub.add_response("describe_db_snapshots", {"DBSnapshots": [{"Status": "creating"}]})
        outcome = target.backup(plan, progress=no_progress)
        stub.assert_no_pending_responses()
    assert not outcome.ok
    assert outcome.summary.startswith(f"snapshot {plan.name} not available after 1m; it may still")
    assert fake.slept == [15.0] * 4 and len(manual_snapshots(aws)) == 1


# --- Elastic Beanstalk -------------------------------------------------------------------------------

APP, ENV = "awning-wo", "awning-prod"


def beanstalk(cloud: Aws, fake: FakeTime, timeout: str = "15m") -> BeanstalkEnvironment:
    cfg = BeanstalkConfig(environment=ENV, application=APP, update_timeout=timeout)
    return BeanstalkEnvironment(cfg, cloud.clients, sleep=fake.sleep, monotonic=fake.monotonic)


def app_versions(*labels_and_status: tuple[str, str]) -> dict:
    return {"ApplicationVersions": [
        {"ApplicationName": APP, "VersionLabel": label, "Status": status,
         "DateCreated": datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=i)}
        for i, (label, status) in enumerate(labels_and_status)]}


@pytest.mark.parametrize(("colour", "status", "health"), [
    ("Green", "Ready", Health.OK), ("Yellow", "Ready", Health.DEGRADED), ("Red", "Ready", Health.DOWN),
    ("Green", "Updating", Health.DEGRADED), ("Grey", "Ready", Health.DEGRADED)])
def test_beanstalk_status_from_health_colour(aws, colour, status, health):  # noqa: F811
    aws.beanstalk_environment("other-app", "other-env", health="Red")   # moto ignores describe filters:
    aws.beanstalk_environment(APP, "awning-staging", health="Red")      # the adapter must pick its own
    aws.beanstalk_environment(APP, ENV, version="v42", health=colour, status=status)
    [finding] = beanstalk(aws, FakeTime()).check()
    assert (finding.subject, finding.health, finding.summary) == (
        f"beanstalk {ENV}", health, f"{colour}, {status}, version v42")


def test_beanstalk_unknown_environment(aws):  # noqa: F811
    aws.beanstalk_environment("other-app", "other-env")
    with pytest.raises(TargetNotFoundError, match=f"beanstalk {ENV}: not found in application {APP}"):
        beanstalk(aws, FakeTime()).check()


def test_beanstalk_rollback_deploys_the_previous_version_and_waits_for_green(aws):  # noqa: F811
    aws.beanstalk_environment(APP, ENV, version="v42", health="Green")
    fake = FakeTime(then=[lambda: aws.set_environment(APP, ENV, version="v41", status="Updating", health="Grey"),
                          lambda: aws.set_environment(APP, ENV, status="Ready", health="Green")])
    target = beanstalk(aws, fake)
    eb = aws.clients.client("elasticbeanstalk")
    # Stubber on DescribeApplicationVersions and UpdateEnvironment only: moto implements neither.
    # DescribeEnvironments goes to moto; the fake clock moves the environment along as EB would.
    with PartialStubber(eb, "DescribeApplicationVersions", "UpdateEnvironment") as stub:
        stub.add_response("describe_application_versions",
                          app_versions(("v40", "PROCESSED"), ("v41", "PROCESSED"), ("v42", "PROCESSED")),
                          {"ApplicationName": APP})
        plan = target.plan_rollback()
        assert (plan.target, plan.current, plan.desired) == (f"beanstalk {ENV}", "version v42", "version v41")
        stub.add_response("update_environment", {"EnvironmentName": ENV, "VersionLabel": "v41"},
                          {"EnvironmentName": ENV, "VersionLabel": "v41"})
        outcome = target.rollback(plan, progress=no_progress)
        stub.assert_no_pending_responses()
    assert (outcome.ok, outcome.summary) == (True, f"beanstalk {ENV} runs version v41, health Green")
    # the first poll still saw v42 Ready Green (not yet updating): it did not count as done
    assert fake.slept == [10.0, 10.0]


def test_beanstalk_rollback_skips_failed_versions_and_checks_named_ones(aws):  # noqa: F811
    aws.beanstalk_environment(APP, ENV, version="v42", health="Green")
    target = beanstalk(aws, FakeTime())
    versions = app_versions(("v40", "PROCESSED"), ("v41", "FAILED"), ("v42", "PROCESSED"))
    # Stubber on DescribeApplicationVersions only: moto does not implement it.
    with PartialStubber(aws.clients.client("elasticbeanstalk"), "DescribeApplicationVersions") as stub:
        for _ in range(3):
            stub.add_response("describe_application_versions", versions)
        assert target.plan_rollback().desired == "version v40"
        with pytest.raises(TargetNotFoundError, match="has no version v99"):
            target.plan_rollback(to="v99")
        with pytest.raises(NotPossibleError, match="already runs version v42"):
            target.plan_rollback(to="v42")


def test_beanstalk_rollback_that_never_gets_healthy_times_out(aws):  # noqa: F811
    aws.beanstalk_environment(APP, ENV, version="v42", health="Green")
    fake = FakeTime(then=[lambda: aws.set_environment(APP, ENV, version="v41", health="Red")])
    target = beanstalk(aws, fake, timeout="1m")
    # Stubber on DescribeApplicationVersions and UpdateEnvironment only: moto implements neither.
    with PartialStubber(aws.clients.client("elasticbeanstalk"), "DescribeApplicationVersions",
                        "UpdateEnvironment") as stub:
        stub.add_response("describe_application_versions", app_versions(("v41", "PROCESSED"), ("v42", "PROCESSED")))
        stub.add_response("update_environment", {"EnvironmentName": ENV})
        outcome = target.rollback(target.plan_rollback(), progress=no_progress)
    assert (outcome.ok, outcome.summary) == (
        False, f"beanstalk {ENV} not Ready and healthy on version v41 within 1m; now Red, Ready, version v41")
    assert sum(fake.slept) == 60.0


# --- CloudFormation ----------------------------------------------------------------------------------


def stack(cloud: Aws, fake: FakeTime, timeout: str = "30m") -> CloudFormationStack:
    return CloudFormationStack(CloudFormationConfig(stack=STACK, update_timeout=timeout), cloud.clients,
                               sleep=fake.sleep, monotonic=fake.monotonic)


def test_cloudformation_status_and_nothing_to_roll_back_when_complete(aws):  # noqa: F811
    aws.stack(STACK)
    target = stack(aws, FakeTime())
    [finding] = target.check()
    assert (finding.subject, finding.health, finding.summary) == (f"stack {STACK}", Health.OK, "CREATE_COMPLETE")
    aws.set_stack_status(STACK, "UPDATE_COMPLETE")
    with pytest.raises(NotPossibleError) as caught:
        target.plan_rollback()
    assert str(caught.value).startswith(f"no earlier template known for stack {STACK}: ")   # (see
    # tests/integrations/test_cloudformation_templates.py for the rollback of a settled stack)
    aws.set_stack_status(STACK, "UPDATE_ROLLBACK_FAILED")
    assert target.check()[0].health is Health.DOWN


@pytest.mark.parametrize(("state", "operation", "response"), [
    ("UPDATE_FAILED", "rollback_stack", {"StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}/1"}),
    ("UPDATE_IN_PROGRESS", "cancel_update_stack", {}),
    ("UPDATE_ROLLBACK_FAILED", "continue_update_rollback", {})])
def test_cloudformation_rollback_by_state(aws, state, operation, response):  # noqa: F811
    aws.stack(STACK, status=state)
    fake = FakeTime(then=[lambda: aws.set_stack_status(STACK, "UPDATE_ROLLBACK_IN_PROGRESS"),
                          lambda: aws.set_stack_status(STACK, "UPDATE_ROLLBACK_COMPLETE")])
    target = stack(aws, fake)
    plan = target.plan_rollback()
    assert (plan.target, plan.current, plan.to_ref) == (f"stack {STACK}", state, operation)
    # Stubber on the one call moto lacks (RollbackStack / CancelUpdateStack / ContinueUpdateRollback);
    # DescribeStacks goes to moto, and the fake clock moves the stack along as CloudFormation would.
    api_name = "".join(word.title() for word in operation.split("_"))
    with PartialStubber(aws.clients.client("cloudformation"), api_name) as stub:
        stub.add_response(operation, response, {"StackName": STACK})
        outcome = target.rollback(plan, progress=no_progress)
        stub.assert_no_pending_responses()
    assert (outcome.ok, outcome.summary) == (True, f"stack {STACK} is UPDATE_ROLLBACK_COMPLETE")
    assert fake.slept == [10.0, 10.0]       # the first poll still saw the old state: not taken as the end


def test_cloudformation_rollback_that_hangs_times_out(aws):  # noqa: F811
    aws.stack(STACK, status="UPDATE_FAILED")
    fake = FakeTime(then=[lambda: aws.set_stack_status(STACK, "UPDATE_ROLLBACK_IN_PROGRESS")])
    target = stack(aws, fake, timeout="1m")
    # Stubber on RollbackStack only: moto does not implement it.
    with PartialStubber(aws.clients.client("cloudformation"), "RollbackStack") as stub:
        stub.add_response("rollback_stack", {})
        outcome = target.rollback(target.plan_rollback(), progress=no_progress)
    assert (outcome.ok, outcome.summary) == (False, f"stack {STACK} still UPDATE_ROLLBACK_IN_PROGRESS after 1m")


def test_cloudformation_busy_or_unknown_stack(aws):  # noqa: F811
    aws.stack(STACK, status="UPDATE_ROLLBACK_IN_PROGRESS")
    with pytest.raises(NotPossibleError, match="stack is UPDATE_ROLLBACK_IN_PROGRESS: no rollback from this state"):
        stack(aws, FakeTime()).plan_rollback()
    ghost = CloudFormationStack(CloudFormationConfig(stack="ghost"), aws.clients)
    with pytest.raises(TargetNotFoundError, match=r"^stack ghost: not found \(ValidationError\)"):
        ghost.check()


# --- Clients, errors, credentials --------------------------------------------------------------------


def test_clients_are_made_once_with_timeouts_and_bounded_retries(aws):  # noqa: F811
    clients = AwsClients(AwsSettings(region="us-east-1", connect_timeout="1s", read_timeout="4s"))
    made: list[object] = []
    threads = [threading.Thread(target=lambda: made.append(clients.client("rds"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in made}) == 1 and len(made) == 8
    config = made[0].meta.config
    assert (config.connect_timeout, config.read_timeout, config.retries) == (
        1.0, 4.0, {"total_max_attempts": 2, "mode": "standard"})      # one try and one retry
    assert clients.timeout_s == 5.0


def test_unreachable_endpoint_fails_fast(aws, monkeypatch):  # noqa: F811
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed_loopback_url())
    clients = AwsClients(AwsSettings(region="us-east-1", connect_timeout="1s", read_timeout="2s"))
    started = time.monotonic()
    with pytest.raises(UnreachableError, match=r"^alarm a: AWS did not answer \(EndpointConnectionError\)"):
        CloudWatchAlarms(["a"], clients).check()
    # connection refused is immediate; the margin covers botocore's one retry (jitter of up to 1 s)
    assert time.monotonic() - started < 1.0 + 1.5


def test_credentials_moto_rejects_are_access_denied(aws):  # noqa: F811
    aws.rds_instance(DB)
    aws.alarm("a")
    # moto's IAM auth, switched on for this test (POST /moto-api/reset-auth): our "testing" key is unknown to it
    with aws.iam_auth():
        with pytest.raises(AccessDeniedError, match=r"^rds .*: AWS credentials expired or not allowed "
                                                    r"\(InvalidClientTokenId\)$"):
            rds(aws, now=datetime(2026, 11, 23, tzinfo=UTC)).check()
        # moto answers JSON-protocol clients with an XML error body botocore cannot read: only the 403 is left
        with pytest.raises(AccessDeniedError, match=r"\(HTTP 403\)$"):
            CloudWatchAlarms(["a"], aws.clients).check()
    assert CloudWatchAlarms(["a"], aws.clients).check()[0].health is Health.OK     # auth off again


def test_expired_token_is_access_denied(aws):  # noqa: F811
    # Stubber with an ExpiredToken answer on DescribeAlarms: moto cannot issue a token that then expires.
    with PartialStubber(aws.clients.client("cloudwatch"), "DescribeAlarms") as stub:
        stub.add_client_error("describe_alarms", service_error_code="ExpiredToken", http_status_code=403,
                              service_message="The security token included in the request is expired")
        with pytest.raises(AccessDeniedError) as caught:
            CloudWatchAlarms(["a"], aws.clients).check()
    assert str(caught.value) == "alarm a: AWS credentials expired or not allowed (ExpiredToken)"
    assert isinstance(caught.value.__cause__, ClientError)


def test_no_credentials_or_region_say_how_to_fix_it(aws, monkeypatch):  # noqa: F811
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(AccessDeniedError, match="no AWS credentials found .*set AWS_PROFILE"):
        CloudWatchAlarms(["a"], AwsClients(AwsSettings(region="us-east-1"))).check()
    with pytest.raises(AccessDeniedError, match="the configured AWS profile does not exist"):
        CloudWatchAlarms(["a"], AwsClients(AwsSettings(region="us-east-1", profile="nope"))).check()
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(AdapterError, match="no AWS region; set integrations.aws.region or AWS_REGION"):
        CloudWatchAlarms(["a"], AwsClients(AwsSettings())).check()


def test_aws_region_from_the_environment_is_honoured(aws, monkeypatch):  # noqa: F811
    aws.alarm("a")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "us-east-1")              # botocore alone reads only AWS_DEFAULT_REGION
    assert CloudWatchAlarms(["a"], AwsClients(AwsSettings())).check()[0].health is Health.OK


def client_error(code: str, message: str = "", status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "AnyOperation")


@pytest.mark.parametrize(("error", "kind", "text"), [
    (client_error("ExpiredTokenException", "token expired for AKIAEXAMPLESECRET", 403), AccessDeniedError,
     "x: AWS credentials expired or not allowed (ExpiredTokenException)"),
    (client_error("AccessDeniedException", "User arn:aws:iam::123:user/bob is not authorized", 403),
     AccessDeniedError, "x: AWS credentials expired or not allowed (AccessDeniedException)"),
    (client_error("ValidationError", "Stack with id s does not exist"), TargetNotFoundError,
     "x: not found (ValidationError)"),
    (client_error("ValidationError", "Template format error"), AdapterError,
     "x: AWS answered with an error (ValidationError)"),
    (client_error("Throttling", "Rate exceeded"), ThrottledError,
     "x: AWS is throttling our requests (Throttling); try again in a minute"),
    (client_error("PreconditionFailedException", "revision mismatch", 412), NotPossibleError,
     "x: not possible in its current state (PreconditionFailedException)")])
def test_error_translation_names_the_code_never_the_message(error, kind, text):
    with pytest.raises(AdapterError) as caught, translated("x"):
        raise error
    assert type(caught.value) is kind and str(caught.value) == text and caught.value.__cause__ is error
    assert caught.value.temporary is (kind in (ThrottledError, UnreachableError))
