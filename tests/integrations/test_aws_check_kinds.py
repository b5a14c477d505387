"""The AWS check kinds `s3_latest_object`, `secret_age`, `kms_key` and `metric` with `math:` against moto in server
mode: ok, warn and fail for each, the errors that make a check unknown, and the config rules for these kinds.

Time: a fixed clock. What moto stamps with the real time (an object's LastModified, a secret's dates) is set on
moto's model first (tests/fakes/aws_resources.py); a KMS deletion date is read back and the clock put before it.

Not emulated: moto 5.2.5 does not evaluate CloudWatch metric-math expressions (GetMetricData answers an
expression with the values of the query whose id it names, or nothing). `math: ratio` does not use them: it
reads both metrics and divides their window totals, which is what is tested here.
"""
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from bot.config import ConfigError, parse_config
from bot.config.aws_checks import KmsKeyCheck, S3LatestObjectCheck, SecretAgeCheck, parse_size, size_text
from bot.config.checklists import MetricCheck
from bot.config.services import AwsSettings
from integrations.aws import AwsClients
from integrations.aws.cloudwatch import CloudWatchMetric
from integrations.aws.kms import KmsKey
from integrations.aws.metric_math import CloudWatchMetricRatio, RdsFreeStorage
from integrations.aws.s3 import S3LatestObject
from integrations.aws.secretsmanager import SecretAge
from integrations.base import AccessDeniedError, Health, TargetNotFoundError
from integrations.status import check_services
from tests.fakes.aws import REGION
from tests.fakes.aws_resources import GIB, ago, datapoints, iam_user_allowed, kms_key, s3_object, secret

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BUCKET = "flight-search-backups"
PREFIX = "postgres-backups/"
FN = "weather-monitor-production"
KB, MB = 1000, 1000**2


def settings_of(**cfg):
    return {"integrations": {"aws": {}}, "checklists": {"m": {"checks": [cfg]}}}


# --- s3_latest_object -------------------------------------------------------------------------------


def s3_check(aws, clock=NOW, **cfg):
    check = S3LatestObjectCheck.model_validate(
        {"check": "s3_latest_object", "bucket": BUCKET, "prefix": PREFIX, "max_age": "26h", "min_size": "1 KB"} | cfg)
    return S3LatestObject(check, aws.clients, clock=lambda: clock)


def backups(aws, newest_age, newest_size=2 * KB):
    """Three nightly backups; the newest by time is not the last by name. Newer keys elsewhere never count."""
    s3_object(aws, BUCKET, f"{PREFIX}2026-11-28.sql.gz", size=3 * KB, modified=NOW - newest_age - timedelta(days=2))
    s3_object(aws, BUCKET, f"{PREFIX}2026-11-29.sql.gz", size=newest_size, modified=NOW - newest_age)
    s3_object(aws, BUCKET, f"{PREFIX}archive-2025.sql.gz", size=9 * KB, modified=NOW - timedelta(days=300))
    s3_object(aws, BUCKET, PREFIX, size=0, modified=NOW - timedelta(minutes=1))              # folder marker
    s3_object(aws, BUCKET, "mysql-backups/2026-11-30.sql.gz", size=5 * KB, modified=NOW - timedelta(hours=1))


@pytest.mark.parametrize("age, size, cfg, health, summary", [
    (timedelta(hours=3), 2 * KB, {}, Health.OK, "newest object postgres-backups/2026-11-29.sql.gz is 3h old, 2 KB"),
    (timedelta(hours=22), 2 * KB, {}, Health.DEGRADED,
     "newest object postgres-backups/2026-11-29.sql.gz is 22h old, 2 KB: older than 20h 48m (max 1d 2h)"),
    (timedelta(hours=22), 2 * KB, {"warn_age": "23h"}, Health.OK,
     "newest object postgres-backups/2026-11-29.sql.gz is 22h old, 2 KB"),
    (timedelta(hours=31), 2 * KB, {}, Health.DOWN,
     "newest object postgres-backups/2026-11-29.sql.gz is 1d 7h old (max 1d 2h)"),
    (timedelta(hours=3), 12_000, {"min_size": "1 MB"}, Health.DOWN,
     "newest object postgres-backups/2026-11-29.sql.gz is 12 KB (min 1 MB)"),
    (timedelta(hours=3), 12_000, {"min_size": 0}, Health.OK,
     "newest object postgres-backups/2026-11-29.sql.gz is 3h old, 12 KB"),
])
def test_s3_newest_object_against_age_and_size(aws, age, size, cfg, health, summary):
    backups(aws, age, size)
    [finding] = s3_check(aws, **cfg).check()
    assert (finding.health, finding.summary) == (health, summary)
    assert finding.subject == f"s3://{BUCKET}/{PREFIX}"
    assert finding.details["key"] == "postgres-backups/2026-11-29.sql.gz"
    assert finding.details["last_modified"] == f"{NOW - age:%Y-%m-%d %H:%M} UTC"


def test_s3_an_empty_prefix_fails_and_an_empty_object_is_no_backup(aws):
    s3_object(aws, BUCKET, "mysql-backups/2026-11-30.sql.gz", size=5 * KB, modified=NOW - timedelta(hours=1))
    s3_object(aws, BUCKET, PREFIX, size=0, modified=NOW - timedelta(hours=1))
    [none] = s3_check(aws).check()
    assert (none.health, none.summary) == (Health.DOWN, f"no object under s3://{BUCKET}/{PREFIX}")
    s3_object(aws, BUCKET, f"{PREFIX}2026-11-30.sql.gz", size=0, modified=NOW - timedelta(hours=1))
    [empty] = s3_check(aws, min_size=1).check()        # the default min_size: one byte
    assert (empty.health, empty.summary) == (Health.DOWN,
                                             f"newest object {PREFIX}2026-11-30.sql.gz is 0 B (min 1 B)")


def test_s3_reads_every_page_and_says_so_when_it_stops(aws):
    for day in range(1, 8):        # 7 keys, older by the day (101h, 102h, …) but the 4th: the newest, on page 2 of 3
        hours = 2 if day == 4 else 100 + day
        s3_object(aws, BUCKET, f"{PREFIX}2026-11-0{day}.sql.gz", size=2 * KB, modified=NOW - timedelta(hours=hours))
    cfg = S3LatestObjectCheck.model_validate({"check": "s3_latest_object", "bucket": BUCKET, "prefix": PREFIX,
                                              "max_age": "26h"})
    [every] = S3LatestObject(cfg, aws.clients, clock=lambda: NOW, page_keys=3).check()
    assert (every.health, every.summary) == (Health.OK, f"newest object {PREFIX}2026-11-04.sql.gz is 2h old, 2 KB")
    [part] = S3LatestObject(cfg, aws.clients, clock=lambda: NOW, page_keys=2, max_pages=1).check()
    assert (part.health, part.summary) == (
        Health.DEGRADED, f"more than 2 keys under s3://{BUCKET}/{PREFIX}, only those were read (narrow the prefix); "
                         f"newest object {PREFIX}2026-11-01.sql.gz of those is 4d 5h old, 2 KB")


def test_s3_missing_bucket_and_denied_access_are_errors_not_findings(aws):
    aws.seed("s3").create_bucket(Bucket=BUCKET)
    with pytest.raises(TargetNotFoundError, match=r"^s3://other-bucket/postgres-backups/: not found \(NoSuchBucket\)$"):
        s3_check(aws, bucket="other-bucket").check()
    with aws.iam_auth(), pytest.raises(AccessDeniedError, match=f"^s3://{BUCKET}/{PREFIX}: AWS credentials"):
        s3_check(aws).check()


# --- secret_age -------------------------------------------------------------------------------------


DB_SECRET = "flight-schedule-pro/db-password"


def secret_check(aws, **cfg):
    check = SecretAgeCheck.model_validate({"check": "secret_age", "secret_id": DB_SECRET, "max_age": "30d"} | cfg)
    return SecretAge(check, aws.clients, clock=lambda: NOW)


@pytest.mark.parametrize("seed, cfg, health, summary", [
    ({"rotation": True, "rotated": ago(NOW, days=5)}, {"expect_rotation": True}, Health.OK, "last rotated 5d ago"),
    ({"rotation": True, "rotated": ago(NOW, days=25, hours=3)}, {}, Health.DEGRADED,
     "last rotated 25d 3h ago: older than 24d (max 30d)"),
    ({"rotation": True, "rotated": ago(NOW, days=25)}, {"warn_age": "28d"}, Health.OK, "last rotated 25d ago"),
    ({"changed": ago(NOW, days=2)}, {"expect_rotation": True}, Health.DEGRADED,
     "last changed (never rotated) 2d ago, but automatic rotation is off"),
    ({"rotation": True, "rotated": ago(NOW, days=40)}, {}, Health.DOWN, "last rotated 40d ago (max 30d)"),
    ({"changed": ago(NOW, days=45)}, {"expect_rotation": True}, Health.DOWN,
     "last changed (never rotated) 45d ago (max 30d); automatic rotation is off"),
])
def test_secret_age_since_its_last_rotation(aws, seed, cfg, health, summary):
    secret(aws, DB_SECRET, **seed)
    [finding] = secret_check(aws, **cfg).check()
    assert (finding.health, finding.summary) == (health, summary)
    assert finding.subject == f"secret {DB_SECRET}"


def test_secret_age_counts_from_rotation_before_change_before_creation(aws):
    # Rotated 40 days ago, its description edited yesterday: the rotation decides.
    secret(aws, DB_SECRET, rotation=True, rotated=ago(NOW, days=40), changed=ago(NOW, days=1))
    [rotated] = secret_check(aws).check()
    assert (rotated.health, rotated.summary) == (Health.DOWN, "last rotated 40d ago (max 30d)")
    assert rotated.details["last_changed"] == f"{ago(NOW, days=1):%Y-%m-%d %H:%M} UTC"
    secret(aws, "api-key", created=ago(NOW, days=3), no_change_date=True)
    [created] = secret_check(aws, secret_id="api-key").check()
    assert (created.health, created.summary) == (Health.OK, "created (never rotated or changed) 3d ago")


def test_a_secret_scheduled_for_deletion_fails(aws):
    secret(aws, DB_SECRET, changed=ago(NOW, days=1))
    aws.seed("secretsmanager").delete_secret(SecretId=DB_SECRET, RecoveryWindowInDays=7)
    [finding] = secret_check(aws).check()
    assert finding.health is Health.DOWN and finding.summary.startswith("scheduled for deletion on ")


def test_secret_not_found_and_access_denied_are_errors(aws):
    with pytest.raises(TargetNotFoundError, match=r"^secret nope: not found \(ResourceNotFoundException\)$"):
        secret_check(aws, secret_id="nope").check()
    secret(aws, DB_SECRET)
    with aws.iam_auth(), pytest.raises(AccessDeniedError, match=f"^secret {DB_SECRET}: AWS credentials"):
        secret_check(aws).check()


# --- kms_key ----------------------------------------------------------------------------------------


ALIAS = "alias/parker-flight-general-production"


def kms_check(aws, clients=None, clock=NOW, **cfg):
    check = KmsKeyCheck.model_validate({"check": "kms_key", "key_id": ALIAS} | cfg)
    return KmsKey(check, clients or aws.clients, clock=lambda: clock)


@pytest.mark.parametrize("rotation, cfg, health, summary", [
    (False, {}, Health.OK, "enabled"),
    (True, {"round_trip": True, "expect_rotation": True}, Health.OK,
     "enabled; encrypt/decrypt round trip ok; automatic rotation on"),
    (False, {"round_trip": True, "expect_rotation": True}, Health.DEGRADED,
     "enabled; encrypt/decrypt round trip ok; automatic rotation is off"),
])
def test_an_enabled_key(aws, rotation, cfg, health, summary):
    key_id = kms_key(aws, ALIAS, rotation=rotation)
    [finding] = kms_check(aws, **cfg).check()
    assert (finding.health, finding.summary) == (health, summary)
    assert finding.subject == f"KMS key {ALIAS}" and finding.details == {"key": key_id, "state": "Enabled"}


def test_a_disabled_key_fails(aws):
    key_id = kms_key(aws, ALIAS)
    aws.seed("kms").disable_key(KeyId=key_id)
    [finding] = kms_check(aws, round_trip=True).check()
    assert (finding.health, finding.summary) == (Health.DOWN, "disabled: every encrypt and decrypt with it fails")


def test_a_key_pending_deletion_fails_with_the_date(aws):
    key_id = kms_key(aws, ALIAS)
    kms = aws.seed("kms")
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    deletion = kms.describe_key(KeyId=key_id)["KeyMetadata"]["DeletionDate"]
    [finding] = kms_check(aws, clock=deletion - timedelta(days=6, hours=2)).check()
    assert (finding.health, finding.summary) == (
        Health.DOWN, f"pending deletion: deleted on {deletion.astimezone(UTC):%Y-%m-%d %H:%M} UTC (in 6d 2h) "
                     "unless someone cancels it")


@pytest.mark.parametrize("allowed, step", [(["kms:DescribeKey"], "encrypt"),
                                           (["kms:DescribeKey", "kms:Encrypt"], "decrypt")])
def test_a_round_trip_the_bot_may_not_make_fails(aws, monkeypatch, allowed, step):
    kms_key(aws, ALIAS)
    with iam_user_allowed(aws, monkeypatch, allowed):
        [finding] = kms_check(aws, AwsClients(AwsSettings(region=REGION)), round_trip=True).check()
    assert (finding.health, finding.summary) == (
        Health.DOWN, f"enabled; {step} failed: access denied: the bot's credentials may not use this key "
                     "(HTTP 403)")    # moto answers this JSON API in XML, so botocore reads no error code


def test_a_signing_key_cannot_round_trip(aws):
    kms_key(aws, ALIAS, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    [finding] = kms_check(aws, round_trip=True).check()
    assert (finding.health, finding.summary) == (
        Health.DEGRADED, "enabled; no round trip: that needs a symmetric encryption key, this is ECC_NIST_P256 for "
                         "SIGN_VERIFY")


def test_kms_not_found_and_access_denied_are_errors(aws):
    with pytest.raises(TargetNotFoundError, match=f"^KMS key {ALIAS}: not found \\(NotFoundException\\)$"):
        kms_check(aws).check()
    kms_key(aws, ALIAS)
    with aws.iam_auth(), pytest.raises(AccessDeniedError, match=f"^KMS key {ALIAS}: AWS credentials"):
        kms_check(aws).check()


# --- metric: warn bounds, math: ratio, math: free_storage ---------------------------------------------


def metric(**cfg):
    base = {"check": "metric", "namespace": "AWS/Lambda", "name": "Errors", "dimensions": {"FunctionName": FN},
            "stat": "Sum", "period": "1h"}
    return MetricCheck.model_validate(base | cfg)


def lambda_points(aws, name, values, function=FN):
    datapoints(aws, "AWS/Lambda", name, {"FunctionName": function},
               [(NOW - timedelta(minutes=5 + 10 * i), v) for i, v in enumerate(values)])


@pytest.mark.parametrize("cfg, health, summary", [
    ({"max": 10, "warn_max": 6}, Health.OK, "Sum over the last 1h: 5"),
    ({"max": 10, "warn_max": 4}, Health.DEGRADED, "Sum over the last 1h: 5, above warn_max 4 (max 10)"),
    ({"min": 1, "warn_min": 8}, Health.DEGRADED, "Sum over the last 1h: 5, below warn_min 8 (min 1)"),
    ({"max": 4, "warn_max": 2}, Health.DOWN, "Sum over the last 1h: 5, above max 4"),
])
def test_a_plain_metric_warns_between_warn_max_and_max(aws, cfg, health, summary):
    lambda_points(aws, "Errors", [2, 3])
    [finding] = CloudWatchMetric(metric(**cfg), aws.clients, clock=lambda: NOW).check()
    assert (finding.health, finding.summary) == (health, summary)


def ratio(**cfg):
    return metric(math="ratio", divide_by={"name": "Invocations"}, max=1, **cfg)


@pytest.mark.parametrize("errors, cfg, health, summary", [
    ([1, 1], {}, Health.OK, "Errors / Invocations over the last 1h: 0.2% (2 of 1000)"),
    ([3, 4], {"warn_max": 0.5}, Health.DEGRADED,
     "Errors / Invocations over the last 1h: 0.7% (7 of 1000), above warn_max 0.5% (max 1%)"),
    ([20, 5], {"warn_max": 0.5}, Health.DOWN, "Errors / Invocations over the last 1h: 2.5% (25 of 1000), above max 1%"),
    ([], {}, Health.OK, "Errors / Invocations over the last 1h: 0% (0 of 1000)"),
])
def test_error_rate_is_errors_over_invocations_in_the_window(aws, errors, cfg, health, summary):
    lambda_points(aws, "Errors", errors)
    lambda_points(aws, "Invocations", [400, 600])
    datapoints(aws, "AWS/Lambda", "Invocations", {"FunctionName": FN}, [(NOW - timedelta(hours=2), 5)])  # too old
    lambda_points(aws, "Errors", [500], function="other-function")
    [finding] = CloudWatchMetricRatio(ratio(**cfg), aws.clients, clock=lambda: NOW).check()
    assert (finding.health, finding.summary) == (health, summary)
    assert finding.subject == f"metric AWS/Lambda Errors / Invocations (FunctionName={FN})"


def test_no_invocations_leaves_no_rate_to_judge(aws):
    check = CloudWatchMetricRatio(ratio(), aws.clients, clock=lambda: NOW)
    [quiet] = check.check()
    assert (quiet.health, quiet.summary) == (Health.DEGRADED, "no Invocations in the last 1h: no rate to judge")
    lambda_points(aws, "Errors", [3])
    [odd] = check.check()
    assert (odd.health, odd.summary) == (Health.DEGRADED,
                                         "3 Errors but no Invocations in the last 1h: no rate to judge")


def test_the_denominator_may_be_another_namespace_dimension_and_stat(aws):
    datapoints(aws, "Custom/Api", "Failures", {"Api": "search"}, [(NOW - timedelta(minutes=3), 4)])
    datapoints(aws, "AWS/ApiGateway", "Count", {"ApiName": "search-api"},
               [(NOW - timedelta(minutes=m), 100) for m in (3, 13)])
    check = MetricCheck.model_validate({
        "check": "metric", "math": "ratio", "namespace": "Custom/Api", "name": "Failures",
        "dimensions": {"Api": "search"}, "stat": "Sum", "divide_by": {"namespace": "AWS/ApiGateway", "name": "Count",
                                     "dimensions": {"ApiName": "search-api"}, "stat": "Maximum"}, "max": 5})
    [finding] = CloudWatchMetricRatio(check, aws.clients, clock=lambda: NOW).check()
    assert (finding.health, finding.summary) == (Health.OK, "Failures / Count over the last 1h: 4% (4 of 100)")
    assert finding.subject == "metric Custom/Api Failures (Api=search) / AWS/ApiGateway Count (ApiName=search-api)"


DB = "awning-db"


def free_storage(aws, free_gib, **cfg):
    aws.rds_instance(DB, storage_gib=20)
    points = free_gib if isinstance(free_gib, list) else [free_gib]
    datapoints(aws, "AWS/RDS", "FreeStorageSpace", {"DBInstanceIdentifier": DB},
               [(NOW - timedelta(minutes=5 + 10 * i), g * GIB) for i, g in enumerate(points)])
    check = MetricCheck.model_validate({"check": "metric", "math": "free_storage", "db_instance": DB, "min": 20} | cfg)
    return RdsFreeStorage(check, aws.clients, clock=lambda: NOW)


@pytest.mark.parametrize("free, cfg, health, summary", [
    (8, {}, Health.OK, "40% free: 8.0 GiB of 20 GiB (lowest in the last 1h)"),
    (5, {"warn_min": 30}, Health.DEGRADED,
     "25% free: 5.0 GiB of 20 GiB (lowest in the last 1h), below warn_min 30% (min 20%)"),
    ([10, 2.4], {}, Health.DOWN, "12% free: 2.4 GiB of 20 GiB (lowest in the last 1h), below min 20%"),
    ([10, 2.4], {"stat": "Maximum"}, Health.OK, "50% free: 10.0 GiB of 20 GiB (highest in the last 1h)"),
])
def test_free_storage_as_a_share_of_allocated_storage(aws, free, cfg, health, summary):
    [finding] = free_storage(aws, free, **cfg).check()
    assert (finding.health, finding.summary) == (health, summary)
    assert finding.subject == f"rds {DB} free storage"


def test_free_storage_without_datapoints_warns_and_a_missing_instance_is_an_error(aws):
    [finding] = free_storage(aws, [], period="15m").check()
    assert (finding.health, finding.summary) == (Health.DEGRADED, "no FreeStorageSpace datapoints in the last 15m")
    check = MetricCheck.model_validate({"check": "metric", "math": "free_storage", "db_instance": "nope", "min": 20})
    with pytest.raises(TargetNotFoundError, match=r"^rds nope free storage: not found \(DBInstanceNotFound"):
        RdsFreeStorage(check, aws.clients, clock=lambda: NOW).check()


def test_an_error_is_an_unknown_finding_with_the_reason(aws):
    """What a checklist shows for a check that could not ask (access denied here): unknown, with the short reason."""
    kms_key(aws, ALIAS)
    with aws.iam_auth():
        [state] = check_services({"0": (kms_check(aws),)})
    [finding] = state.findings
    assert (finding.health, finding.source) == (Health.UNKNOWN, "check")
    assert finding.summary.startswith(f"KMS key {ALIAS}: AWS credentials expired or not allowed (")


# --- config -----------------------------------------------------------------------------------------


ISSUE_YAML = """
integrations: {aws: {}}
checklists:
  morning:
    checks:
      - {check: s3_latest_object, bucket: flight-search-backups, prefix: postgres-backups/, max_age: 26h,
         min_size: 1 MB}
      - {check: secret_age, secret_id: flight-schedule-pro/db-password, max_age: 30d, expect_rotation: true}
      - {check: kms_key, key_id: alias/parker-flight-general-production, round_trip: true}
      - {check: metric, math: ratio, namespace: AWS/Lambda, name: Errors,
         dimensions: {FunctionName: flight-rescheduler}, stat: Sum, divide_by: {name: Invocations}, period: 1h,
         max: 1, warn_max: 0.5}
      - {check: metric, math: free_storage, db_instance: awning-db, min: 20, warn_min: 30}
"""


def test_the_issue_examples_parse_with_their_defaults():
    s3, sec, kms, rate, storage = parse_config(yaml.safe_load(ISSUE_YAML)).checklists["morning"].checks
    assert [c.label for c in (s3, sec, kms, rate, storage)] == [
        "newest object in s3://flight-search-backups/postgres-backups/",
        "age of secret flight-schedule-pro/db-password", "KMS key alias/parker-flight-general-production",
        "AWS/Lambda Errors / Invocations (FunctionName=flight-rescheduler)", "free storage of RDS awning-db"]
    assert isinstance(s3, S3LatestObjectCheck) and isinstance(sec, SecretAgeCheck) and isinstance(kms, KmsKeyCheck)
    assert (s3.max_age, s3.warn_after, s3.min_size) == (timedelta(hours=26), timedelta(hours=20, minutes=48), MB)
    assert (sec.max_age, sec.warn_after, sec.expect_rotation) == (timedelta(days=30), timedelta(days=24), True)
    assert (kms.round_trip, kms.expect_rotation) == (True, False)
    assert isinstance(rate, MetricCheck) and isinstance(storage, MetricCheck)
    assert (rate.math, rate.divide_by.name, rate.divide_by.stat, rate.max, rate.warn_max) == (
        "ratio", "Invocations", None, 1, 0.5)
    assert (storage.math, storage.stat, storage.namespace, storage.min, storage.warn_min) == (
        "free_storage", None, None, 20, 30)


@pytest.mark.parametrize("text, size", [(12, 12), ("12", 12), ("1 MB", MB), ("1.5MB", 1_500_000), ("12 kb", 12_000),
                                        ("2 GiB", 2 * GIB), ("1 TB", 10**12)])
def test_sizes_read_as_written(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("size, text", [(0, "0 B"), (999, "999 B"), (12_000, "12 KB"), (1_500_000, "1.5 MB"),
                                        (123_456_789, "123 MB"), (3 * 10**15, "3000 TB")])
def test_sizes_shown_as_written(size, text):
    assert size_text(size) == text


def problems(raw):
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    return "\n".join(err.value.problems)


@pytest.mark.parametrize("check", [
    {"check": "s3_latest_object", "bucket": BUCKET, "max_age": "26h"},
    {"check": "secret_age", "secret_id": DB_SECRET, "max_age": "30d"},
    {"check": "kms_key", "key_id": ALIAS},
    {"check": "metric", "math": "free_storage", "db_instance": DB, "min": 20},
])
def test_these_kinds_need_integrations_aws(check):
    raw = {"checklists": {"m": {"checks": [{"check": "manual", "text": "look"}, check]}}}
    assert f"checklists.m.checks[1]: {check['check']} needs integrations.aws" in problems(raw)


S3 = {"check": "s3_latest_object", "bucket": BUCKET, "max_age": "26h"}
RATIO = {"check": "metric", "math": "ratio", "namespace": "AWS/Lambda", "name": "Errors", "stat": "Sum", "max": 1,
         "divide_by": {"name": "Invocations"}}
FREE = {"check": "metric", "math": "free_storage", "db_instance": DB, "min": 20}


@pytest.mark.parametrize("check, expected", [
    (S3 | {"bucket": "s3://flight-search-backups/postgres-backups/"},
     "checklists.m.checks[0].s3_latest_object.bucket: 's3://flight-search-backups/postgres-backups/': write the "
     "bucket's name alone (flight-search-backups); the path inside it goes in `prefix:`"),
    (S3 | {"bucket": "Flight_Backups"}, "checklists.m.checks[0].s3_latest_object.bucket: 'Flight_Backups' is not an "
                                        "S3 bucket name"),
    (S3 | {"min_size": "1 parsec"}, "checklists.m.checks[0].s3_latest_object.min_size: not a size: '1 parsec'"),
    (S3 | {"min_size": -1}, "checklists.m.checks[0].s3_latest_object.min_size: Input should be greater than or equal"),
    (S3 | {"warn_age": "30h"},
     "checklists.m.checks[0].s3_latest_object: warn_age (1d 6h) is longer than max_age (1d 2h): it would never warn"),
    ({"check": "s3_latest_object", "bucket": BUCKET},
     "checklists.m.checks[0].s3_latest_object.max_age: Field required"),
    ({"check": "secret_age", "secret_id": DB_SECRET, "max_age": "0s"},
     "checklists.m.checks[0].secret_age.max_age: must be longer than 0s"),
    ({"check": "secret_age", "secret": DB_SECRET, "max_age": "30d"},
     "checklists.m.checks[0].secret_age.secret: Extra inputs are not permitted"),
    ({"check": "kms_key", "key_id": ALIAS, "round_trip": "sometimes"},
     "checklists.m.checks[0].kms_key.round_trip: Input should be a valid boolean"),
    ({"check": "metric", "name": "Errors", "max": 1},
     "checklists.m.checks[0].metric.namespace: Field required\nchecklists.m.checks[0].metric.stat: Field required"),
    (RATIO | {"divide_by": None}, "checklists.m.checks[0].metric.divide_by: Field required with `math: ratio`"),
    (RATIO | {"divide_by": {"namespace": "AWS/Lambda"}},
     "checklists.m.checks[0].metric.divide_by.name: Field required"),
    (RATIO | {"math": None}, "checklists.m.checks[0].metric.divide_by: only with `math: ratio`"),
    (RATIO | {"math": "sum"}, "checklists.m.checks[0].metric.math: Input should be 'ratio' or 'free_storage'"),
    (RATIO | {"warn_max": 2}, "checklists.m.checks[0].metric: warn_max (2) is above max (1): it would never warn"),
    (FREE | {"db_instance": None}, "checklists.m.checks[0].metric.db_instance: Field required with "
                                   "`math: free_storage`"),
    (FREE | {"namespace": "AWS/RDS"}, "checklists.m.checks[0].metric.namespace: not with `math: free_storage`"),
    (FREE | {"stat": "Sum"}, "checklists.m.checks[0].metric.stat: with `math: free_storage` use Minimum, Average, "
                             "Maximum"),
    (FREE | {"warn_min": 10}, "checklists.m.checks[0].metric: warn_min (10) is below min (20): it would never warn"),
    (FREE | {"min": None}, "checklists.m.checks[0].metric: give max:, min: or both"),
    ({"check": "metric", "namespace": "AWS/Lambda", "name": "Errors", "stat": "Sum", "max": 1, "db_instance": DB},
     "checklists.m.checks[0].metric.db_instance: only with `math: free_storage`"),
])
def test_bad_settings_name_the_key(check, expected):
    assert expected in problems(settings_of(**check))

