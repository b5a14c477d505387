"""The checklist half of the factory: which adapter answers each checklist check. Grep here for a check kind
(`check: …`) to find the class that serves it; integrations.factory maps the rest of the config.

Like integrations.factory, it builds nothing SDK-backed at build time: every source is made inside a `Once`
on its first use, and each adapter's module (and so its SDK: boto3, the kubernetes client, redis-py) is
imported inside its maker, on that first use.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

from bot.config import OpsConfig
from bot.config.aws_checks import KmsKeyCheck, S3LatestObjectCheck, SecretAgeCheck
from bot.config.checklists import (
    AWS_CHECKS,
    BackupAgeCheck,
    Check,
    CloudWatchAlarmsCheck,
    LogErrorsCheck,
    MetricCheck,
    PodsCheck,
    ServiceCheck,
    SqlCheck,
    TlsExpiryCheck,
)
from bot.config.data_checks import PostgresActivityCheck, PvcCheck, RedisCheck
from integrations import builder as make
from integrations.base import StatusSource, check_key
from integrations.builder import Builder
from integrations.deferred import DeferredSource, Once
from integrations.http import HttpHealth


def check_sources(b: Builder, config: OpsConfig) -> dict[str, StatusSource]:
    """A source for every checklist check that does not simply reuse a service's or database's sources, by
    `check_key(checklist, position)`."""
    out: dict[str, StatusSource] = {}
    for name, checklist in config.checklists.items():
        for position, check in enumerate(checklist.checks):
            health = check.health() if isinstance(check, ServiceCheck) else None
            if health is not None:                 # `check: http` with its own url
                out[check_key(name, position)] = HttpHealth(health, b.http)
                continue
            source = _check_source(b, check)
            if source is not None:
                out[check_key(name, position)] = DeferredSource(Once(source))
    return out


def _check_source(b: Builder, check: Check) -> Callable[[], StatusSource] | None:
    """How to make the source a check asks on its own; None for checks that reuse a service's or database's
    sources (service, kubernetes_nodes, backup_age without max_age) and for manual steps."""
    if isinstance(check, AWS_CHECKS):
        return partial(_aws_check, b, check)
    if isinstance(check, PodsCheck):
        return partial(_pods, b, check)
    if isinstance(check, TlsExpiryCheck):
        return partial(_tls, b, check)
    if isinstance(check, SqlCheck):
        return partial(_sql, check)
    if isinstance(check, RedisCheck) or isinstance(check, PostgresActivityCheck) or isinstance(check, PvcCheck):
        return partial(_data_check, b, check)
    if isinstance(check, BackupAgeCheck) and check.max_age is not None:
        # The database's backup source again, judged against this check's max_age. A database with both
        # rds and kubernetes_cronjob is judged by RDS, the backup `/ops backup` makes (as in factory._database()).
        db = b.config.database(check.database)
        assert db is not None                                   # config validation guarantees it
        if db.rds is not None:
            return partial(make.rds, b, db, check.max_age)
        if db.kubernetes_cronjob is not None:
            return partial(make.cronjob, b, db, check.max_age)
    return None


def _aws_check(b: Builder, check: CloudWatchAlarmsCheck | MetricCheck | LogErrorsCheck | S3LatestObjectCheck
               | SecretAgeCheck | KmsKeyCheck) -> StatusSource:
    from integrations.aws.cloudwatch import CloudWatchAccountAlarms, CloudWatchMetric
    from integrations.aws.kms import KmsKey
    from integrations.aws.logs import CloudWatchLogErrors
    from integrations.aws.metric_math import CloudWatchMetricRatio, RdsFreeStorage
    from integrations.aws.s3 import S3LatestObject
    from integrations.aws.secretsmanager import SecretAge

    if isinstance(check, CloudWatchAlarmsCheck):
        return CloudWatchAccountAlarms(check, b.aws())
    if isinstance(check, MetricCheck):
        if check.math == "ratio":
            return CloudWatchMetricRatio(check, b.aws(), clock=b.clock)
        if check.math == "free_storage":
            return RdsFreeStorage(check, b.aws(), clock=b.clock)
        return CloudWatchMetric(check, b.aws(), clock=b.clock)
    if isinstance(check, S3LatestObjectCheck):
        return S3LatestObject(check, b.aws(), clock=b.clock)
    if isinstance(check, SecretAgeCheck):
        return SecretAge(check, b.aws(), clock=b.clock)
    if isinstance(check, KmsKeyCheck):
        return KmsKey(check, b.aws(), clock=b.clock)
    return CloudWatchLogErrors(check, b.aws(), clock=b.clock)


def _pods(b: Builder, check: PodsCheck) -> StatusSource:
    from integrations.kubernetes_pods import KubernetesPods

    return b.with_k8s(lambda api: KubernetesPods(check, api, timeout_s=b.k8s_timeout()))


def _tls(b: Builder, check: TlsExpiryCheck) -> StatusSource:
    from integrations.tls import TlsCertificate

    return TlsCertificate(check, clock=b.clock)


def _sql(check: SqlCheck) -> StatusSource:
    from integrations.sql import SqlDatabase

    return SqlDatabase(check)


def _data_check(b: Builder, check: RedisCheck | PostgresActivityCheck | PvcCheck) -> StatusSource:
    if isinstance(check, RedisCheck):
        from integrations.redis_server import RedisServer  # redis-py only when a redis check runs

        return RedisServer(check)
    if isinstance(check, PostgresActivityCheck):
        from integrations.postgres_activity import PostgresActivity

        return PostgresActivity(check)
    from integrations.kubernetes_pvc import KubernetesPvcs

    return b.with_k8s(lambda api: KubernetesPvcs(check, api, timeout_s=b.k8s_timeout(), http=b.http.get,
                                                 clock=b.clock))
