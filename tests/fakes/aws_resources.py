"""Seeding S3 objects, Secrets Manager secrets, KMS keys, CloudWatch datapoints and an IAM user with narrow rights
on the moto server of tests/fakes/aws.py, for the `s3_latest_object`, `secret_age`, `kms_key` and `metric` checks.

Everything is made through the API. Timestamps that moto stamps with the real time (an object's LastModified, a
secret's rotation and change dates) are then set on moto's in-process model, which the server reads from: the
adapters still read them over HTTP, as they would read what AWS reports.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.secretsmanager.models import secretsmanager_backends

from tests.fakes.aws import REGION, Aws

GIB = 1024**3


def s3_object(aws: Aws, bucket: str, key: str, *, size: int, modified: datetime | None = None) -> None:
    """An object of `size` bytes (the bucket made if needed), last modified at `modified` (aware) if given."""
    s3 = _seed(aws, "s3")
    if bucket not in s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets:
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=b"x" * size)
    if modified is not None:
        stored = s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets[bucket].keys[key]
        stored.last_modified = modified.astimezone(UTC).replace(tzinfo=None)     # moto keeps naive UTC


def secret(aws: Aws, name: str, *, rotated: datetime | None = None, changed: datetime | None = None,
           created: datetime | None = None, rotation: bool = False, no_change_date: bool = False) -> None:
    """A secret; with `rotation`, rotated once through the API (RotationEnabled); then its dates set as given."""
    sm = aws.seed("secretsmanager")
    sm.create_secret(Name=name, SecretString="not-the-value-we-check")
    if rotation:
        sm.rotate_secret(SecretId=name, RotationRules={"AutomaticallyAfterDays": 30})
    stored = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].secrets[name]
    for attribute, at in (("last_rotation_date", rotated), ("last_changed_date", changed),
                          ("created_date", created)):
        if at is not None:
            setattr(stored, attribute, int(at.timestamp()))
    if no_change_date:
        stored.last_changed_date = None


def kms_key(aws: Aws, alias: str, *, rotation: bool = False, **create: str) -> str:
    """A customer managed key named `alias` (alias/...); its key id."""
    kms = aws.seed("kms")
    key_id = str(kms.create_key(Description="test key", **create)["KeyMetadata"]["KeyId"])
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    if rotation:
        kms.enable_key_rotation(KeyId=key_id)
    return key_id


def datapoints(aws: Aws, namespace: str, name: str, dimensions: dict[str, str],
               points: list[tuple[datetime, float]]) -> None:
    _seed(aws, "cloudwatch").put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
         "Timestamp": at, "Value": value} for at, value in points])


@contextlib.contextmanager
def iam_user_allowed(aws: Aws, monkeypatch: pytest.MonkeyPatch, actions: list[str]) -> Iterator[None]:
    """Requests signed as a new IAM user allowed only `actions`, with moto enforcing IAM while inside. Only clients
    made inside see the user's keys (botocore reads credentials when a session makes its first client)."""
    iam = aws.seed("iam")
    iam.create_user(UserName="opsbot-check")
    iam.put_user_policy(UserName="opsbot-check", PolicyName="narrow", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    key = iam.create_access_key(UserName="opsbot-check")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    with aws.iam_auth():
        yield


def _seed(aws: Aws, service: str) -> Any:
    """aws.seed(service), made once per moto server (making a boto3 client takes a good part of a second)."""
    key = (aws.url, service)
    if key not in _SEEDERS:
        _SEEDERS[key] = aws.seed(service)
    return _SEEDERS[key]


_SEEDERS: dict[tuple[str, str], Any] = {}


def ago(now: datetime, **delta: float) -> datetime:
    return now - timedelta(**delta)
