"""The AWS check kinds `s3_latest_object`, `secret_age`, `kms_key` and `metric` with `math:` in a checklist run end to
end: config -> build_integrations -> run_checklist -> stored items, against moto in server mode, with the runtime's
injected clock. A check that cannot ask (a key that does not exist) is a warning with the reason."""
from datetime import UTC, datetime, timedelta

import pytest

from schedules.checklists import get_run, run_checklist
from tests.fakes.aws import aws, moto_server  # noqa: F401  (fixtures)
from tests.fakes.aws_resources import GIB, ago, datapoints, kms_key, s3_object, secret

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BUCKET = "flight-search-backups"
FN = "flight-rescheduler"


@pytest.fixture
def world(aws, clock):  # noqa: F811
    clock.now = NOW
    s3_object(aws, BUCKET, "postgres-backups/2026-11-30.sql.gz", size=4000, modified=ago(NOW, hours=3))
    s3_object(aws, BUCKET, "redis-backups/2026-11-29.rdb", size=4000, modified=ago(NOW, hours=31))
    s3_object(aws, BUCKET, "ml-models/2026-11-29.pkl", size=4000, modified=ago(NOW, hours=22))
    secret(aws, "app/db-password", rotation=True, rotated=ago(NOW, days=3))
    secret(aws, "app/weather-api-key", changed=ago(NOW, days=40))
    secret(aws, "app/stripe-key", changed=ago(NOW, days=2))
    kms_key(aws, "alias/parker-flight-general-production")
    aws.seed("kms").disable_key(KeyId=kms_key(aws, "alias/old-key"))
    points = [(NOW - timedelta(minutes=m), v) for m, v in ((5, 6), (20, 4))]
    datapoints(aws, "AWS/Lambda", "Errors", {"FunctionName": FN}, points)
    datapoints(aws, "AWS/Lambda", "Invocations", {"FunctionName": FN}, [(at, 100 * v) for at, v in points])
    aws.rds_instance("awning-db", storage_gib=100)
    datapoints(aws, "AWS/RDS", "FreeStorageSpace", {"DBInstanceIdentifier": "awning-db"},
               [(ago(NOW, minutes=10), 25 * GIB)])


CONFIG = {
    "integrations": {"aws": {"region": "us-east-1", "connect_timeout": "1s", "read_timeout": "3s"}},
    "checklists": {"nightly": {"checks": [
        {"check": "s3_latest_object", "bucket": BUCKET, "prefix": "postgres-backups/", "max_age": "26h",
         "min_size": "1 KB"},
        {"check": "s3_latest_object", "bucket": BUCKET, "prefix": "redis-backups/", "max_age": "26h"},
        {"check": "s3_latest_object", "bucket": BUCKET, "prefix": "ml-models/", "max_age": "26h"},
        {"check": "secret_age", "secret_id": "app/db-password", "max_age": "30d", "expect_rotation": True},
        {"check": "secret_age", "secret_id": "app/weather-api-key", "max_age": "30d"},
        {"check": "secret_age", "secret_id": "app/stripe-key", "max_age": "90d", "expect_rotation": True},
        {"check": "kms_key", "key_id": "alias/parker-flight-general-production", "round_trip": True},
        {"check": "kms_key", "key_id": "alias/old-key"},
        {"check": "kms_key", "key_id": "alias/never-made"},
        {"check": "metric", "math": "ratio", "namespace": "AWS/Lambda", "name": "Errors",
         "dimensions": {"FunctionName": FN}, "stat": "Sum", "divide_by": {"name": "Invocations"}, "max": 2},
        {"check": "metric", "math": "ratio", "namespace": "AWS/Lambda", "name": "Errors",
         "dimensions": {"FunctionName": FN}, "stat": "Sum", "divide_by": {"name": "Invocations"}, "max": 0.5},
        {"check": "metric", "math": "free_storage", "db_instance": "awning-db", "min": 20, "warn_min": 30},
    ]}},
}


def test_each_kind_reports_ok_warn_and_fail_with_its_reason(make_runtime, world):
    rt = make_runtime(CONFIG)
    run_id = run_checklist(rt, "nightly", scheduled_for=rt.clock(), trigger="manual", requested_by="U0ALICE")
    assert run_id is not None
    report = get_run(rt, run_id)
    got = [(i.kind, i.label, i.result, i.reason) for i in report.items]
    assert got == [
        ("s3_latest_object", f"newest object in s3://{BUCKET}/postgres-backups/", "ok", None),
        ("s3_latest_object", f"newest object in s3://{BUCKET}/redis-backups/", "fail",
         "s3: newest object redis-backups/2026-11-29.rdb is 1d 7h old (max 1d 2h)"),
        ("s3_latest_object", f"newest object in s3://{BUCKET}/ml-models/", "warn",
         "s3: newest object ml-models/2026-11-29.pkl is 22h old, 4 KB: older than 20h 48m (max 1d 2h)"),
        ("secret_age", "age of secret app/db-password", "ok", None),
        ("secret_age", "age of secret app/weather-api-key", "fail",
         "secretsmanager: last changed (never rotated) 40d ago (max 30d)"),
        ("secret_age", "age of secret app/stripe-key", "warn",
         "secretsmanager: last changed (never rotated) 2d ago, but automatic rotation is off"),
        ("kms_key", "KMS key alias/parker-flight-general-production", "ok", None),
        ("kms_key", "KMS key alias/old-key", "fail", "kms: disabled: every encrypt and decrypt with it fails"),
        ("kms_key", "KMS key alias/never-made", "warn",
         "check: KMS key alias/never-made: not found (NotFoundException)"),
        ("metric", f"AWS/Lambda Errors / Invocations (FunctionName={FN})", "ok", None),
        ("metric", f"AWS/Lambda Errors / Invocations (FunctionName={FN})", "fail",
         "cloudwatch: Errors / Invocations over the last 1h: 1% (10 of 1000), above max 0.5%"),
        ("metric", "free storage of RDS awning-db", "warn",
         "rds: 25% free: 25.0 GiB of 100 GiB (lowest in the last 1h), below warn_min 30% (min 20%)"),
    ]
    assert (report.result, report.summary) == ("fail", "4 failed, 4 warning, 4 passed")
    details = {i.position: i.details for i in report.items}
    assert details[0].endswith("newest object postgres-backups/2026-11-30.sql.gz is 3h old, 4 KB "
                               "(key=postgres-backups/2026-11-30.sql.gz, last_modified=2026-11-30 06:00 UTC, "
                               "size=4 KB)")
    assert "encrypt/decrypt round trip ok" in details[6]
    assert "1% (10 of 1000)" in details[9]
