"""The one place that maps config to adapters: grep for a config key here to find the class that serves it.

SDK-backed adapters are built on first use (integrations.deferred), inside the functions below: a bot loads
boto3 or the kubernetes client only when it first asks AWS or Kubernetes something, and a config that names
neither never loads them (tests/test_lazy_imports.py checks both; bench/idle_rss.py shows what it saves).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from bot.clock import Clock, utcnow
from bot.config import OpsConfig
from bot.config.checklists import (
    BackupAgeCheck,
    Check,
    CloudWatchAlarmsCheck,
    LogErrorsCheck,
    MetricCheck,
    PodsCheck,
    SqlCheck,
    TlsExpiryCheck,
)
from bot.config.services import (
    BeanstalkConfig,
    CloudFormationConfig,
    Database,
    KubernetesDeploymentConfig,
    LambdaAliasConfig,
    Service,
)
from integrations.base import (
    NODES,
    AdapterError,
    BackupTarget,
    Integrations,
    RollbackTarget,
    ScaleTarget,
    StatusSource,
    check_key,
)
from integrations.deferred import DeferredBackup, DeferredRollback, DeferredScale, DeferredSource, Once
from integrations.http import HttpClients, HttpHealth
from integrations.unavailable import Unavailable

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from integrations.aws import AwsClients
    from integrations.aws.beanstalk import BeanstalkEnvironment
    from integrations.aws.cloudformation import CloudFormationStack
    from integrations.aws.lambda_ import LambdaAlias
    from integrations.aws.rds import RdsInstance
    from integrations.kubernetes import KubernetesDeployment
    from integrations.kubernetes_backup import KubernetesCronJobBackup

T = TypeVar("T")


class _Builder:
    """Creates each SDK client once, on first need; a client that cannot be set up becomes `Unavailable`.
    Nothing here runs at build time: every SDK-backed adapter is made inside a `Once`, on its first use."""

    def __init__(self, config: OpsConfig, clock: Clock) -> None:
        self.config, self.clock = config, clock
        self.http = HttpClients()
        self.aws = Once(self._aws)
        self.k8s = Once(self._k8s)

    def _aws(self) -> AwsClients:
        from integrations.aws import AwsClients

        assert self.config.integrations.aws is not None   # config validation guarantees it
        return AwsClients(self.config.integrations.aws)

    def _k8s(self) -> ApiClient | AdapterError:
        """The kubernetes ApiClient, or the AdapterError that explains why there is none."""
        from integrations.kubernetes import make_api_client

        settings = self.config.integrations.kubernetes
        assert settings is not None                         # config validation guarantees it
        try:
            return make_api_client(settings)
        except AdapterError as exc:
            return exc

    def k8s_timeout(self) -> float:
        settings = self.config.integrations.kubernetes
        return settings.timeout.total_seconds() if settings else 5.0

    def k8s_poll(self) -> float:
        settings = self.config.integrations.kubernetes
        return settings.poll_interval.total_seconds() if settings else 2.0

    def aws_poll(self) -> float:
        settings = self.config.integrations.aws
        return settings.poll_interval.total_seconds() if settings else 10.0

    def with_k8s(self, make: Callable[[ApiClient], T]) -> T | Unavailable:
        api = self.k8s()
        return Unavailable(api, timeout_s=self.k8s_timeout()) if isinstance(api, AdapterError) else make(api)


def _deployment(b: _Builder, cfg: KubernetesDeploymentConfig) -> KubernetesDeployment | Unavailable:
    from integrations.kubernetes import KubernetesDeployment

    return b.with_k8s(lambda api: KubernetesDeployment(cfg, api, timeout_s=b.k8s_timeout(),
                                                       poll_interval_s=b.k8s_poll()))


def _lambda(b: _Builder, cfg: LambdaAliasConfig) -> LambdaAlias:
    from integrations.aws.lambda_ import LambdaAlias

    return LambdaAlias(cfg, b.aws())


def _alarms(b: _Builder, names: tuple[str, ...]) -> StatusSource:
    from integrations.aws.cloudwatch import CloudWatchAlarms

    return CloudWatchAlarms(names, b.aws())


def _dlq(b: _Builder, queue: str) -> StatusSource:
    from integrations.aws.sqs import SqsDeadLetterQueue

    return SqsDeadLetterQueue(queue, b.aws())


def _beanstalk(b: _Builder, cfg: BeanstalkConfig) -> BeanstalkEnvironment:
    from integrations.aws.beanstalk import BeanstalkEnvironment

    return BeanstalkEnvironment(cfg, b.aws(), poll_interval_s=b.aws_poll())


def _stack(b: _Builder, cfg: CloudFormationConfig) -> CloudFormationStack:
    from integrations.aws.cloudformation import CloudFormationStack

    return CloudFormationStack(cfg, b.aws(), poll_interval_s=b.aws_poll())


def _rds(b: _Builder, db: Database, max_age: timedelta) -> RdsInstance:
    from integrations.aws.rds import RdsInstance

    assert db.rds is not None
    return RdsInstance(db.name, db.rds, b.aws(), max_backup_age=max_age, clock=b.clock, poll_interval_s=b.aws_poll())


def _cronjob(b: _Builder, db: Database, max_age: timedelta) -> KubernetesCronJobBackup | Unavailable:
    from integrations.kubernetes_backup import KubernetesCronJobBackup

    cron = db.kubernetes_cronjob
    assert cron is not None
    return b.with_k8s(lambda api: KubernetesCronJobBackup(cron, api, timeout_s=b.k8s_timeout(), max_backup_age=max_age,
                                                          clock=b.clock, poll_interval_s=b.k8s_poll()))


def _service(b: _Builder, svc: Service, out: _Out) -> None:
    sources: list[StatusSource] = []
    rollback: RollbackTarget | None = None
    if svc.health is not None:
        sources.append(HttpHealth(svc.health, b.http))
    if svc.kubernetes is not None:
        dep = Once(partial(_deployment, b, svc.kubernetes))
        sources.append(DeferredSource(dep))
        rollback = DeferredRollback(dep)
        out.scale[svc.name] = DeferredScale(dep)
    if svc.lambda_ is not None:
        fn = Once(partial(_lambda, b, svc.lambda_))
        sources.append(DeferredSource(fn))
        rollback = rollback or DeferredRollback(fn)
    if svc.alarms:
        sources.append(DeferredSource(Once(partial(_alarms, b, svc.alarms))))
    if svc.sqs_dlq is not None:
        sources.append(DeferredSource(Once(partial(_dlq, b, svc.sqs_dlq))))
    if svc.beanstalk is not None:
        env = Once(partial(_beanstalk, b, svc.beanstalk))
        sources.append(DeferredSource(env))
        rollback = rollback or DeferredRollback(env)
    if svc.cloudformation is not None:
        stack = Once(partial(_stack, b, svc.cloudformation))
        sources.append(DeferredSource(stack))
        rollback = rollback or DeferredRollback(stack)
    out.status[svc.name] = tuple(sources)
    if rollback is not None:
        out.rollback[svc.name] = rollback


def _database(b: _Builder, db: Database, out: _Out) -> None:
    sources: list[StatusSource] = []
    backup: BackupTarget | None = None
    if db.rds is not None:
        rds = Once(partial(_rds, b, db, db.max_backup_age))
        backup = DeferredBackup(rds)
        sources.append(DeferredSource(rds))
    if db.kubernetes_cronjob is not None:
        job = Once(partial(_cronjob, b, db, db.max_backup_age))
        sources.append(DeferredSource(job))
        backup = backup or DeferredBackup(job)
    out.status[db.name] = tuple(sources)
    if backup is not None:
        out.backup[db.name] = backup


@dataclass
class _Out:
    status: dict[str, tuple[StatusSource, ...]] = field(default_factory=dict)
    rollback: dict[str, RollbackTarget] = field(default_factory=dict)
    backup: dict[str, BackupTarget] = field(default_factory=dict)
    scale: dict[str, ScaleTarget] = field(default_factory=dict)
    checks: dict[str, StatusSource] = field(default_factory=dict)


def _checks(b: _Builder, config: OpsConfig, out: _Out) -> None:
    """A source for every checklist check that does not simply reuse a service's or database's sources."""
    for name, checklist in config.checklists.items():
        for position, check in enumerate(checklist.checks):
            source = _check_source(b, check)
            if source is not None:
                out.checks[check_key(name, position)] = DeferredSource(Once(source))


def _check_source(b: _Builder, check: Check) -> Callable[[], StatusSource] | None:
    """How to make the source a check asks on its own; None for checks that reuse a service's or database's
    sources (service, kubernetes_nodes, backup_age without max_age) and for manual steps."""
    if isinstance(check, CloudWatchAlarmsCheck) or isinstance(check, MetricCheck) or isinstance(check, LogErrorsCheck):
        return partial(_aws_check, b, check)
    if isinstance(check, PodsCheck):
        return partial(_pods, b, check)
    if isinstance(check, TlsExpiryCheck):
        return partial(_tls, b, check)
    if isinstance(check, SqlCheck):
        return partial(_sql, check)
    if isinstance(check, BackupAgeCheck) and check.max_age is not None:
        # The database's backup source again, judged against this check's max_age. A database with both
        # rds and kubernetes_cronjob is judged by RDS, the backup `/ops backup` makes (as in _database()).
        db = b.config.database(check.database)
        assert db is not None                                   # config validation guarantees it
        if db.rds is not None:
            return partial(_rds, b, db, check.max_age)
        if db.kubernetes_cronjob is not None:
            return partial(_cronjob, b, db, check.max_age)
    return None


def _aws_check(b: _Builder, check: CloudWatchAlarmsCheck | MetricCheck | LogErrorsCheck) -> StatusSource:
    from integrations.aws.cloudwatch import CloudWatchAccountAlarms, CloudWatchMetric
    from integrations.aws.logs import CloudWatchLogErrors

    if isinstance(check, CloudWatchAlarmsCheck):
        return CloudWatchAccountAlarms(check, b.aws())
    if isinstance(check, MetricCheck):
        return CloudWatchMetric(check, b.aws(), clock=b.clock)
    return CloudWatchLogErrors(check, b.aws(), clock=b.clock)


def _pods(b: _Builder, check: PodsCheck) -> StatusSource:
    from integrations.kubernetes_pods import KubernetesPods

    return b.with_k8s(lambda api: KubernetesPods(check, api, timeout_s=b.k8s_timeout()))


def _tls(b: _Builder, check: TlsExpiryCheck) -> StatusSource:
    from integrations.tls import TlsCertificate

    return TlsCertificate(check, clock=b.clock)


def _sql(check: SqlCheck) -> StatusSource:
    from integrations.sql import SqlDatabase

    return SqlDatabase(check)


def _nodes(b: _Builder) -> StatusSource:
    from integrations.kubernetes import KubernetesNodes

    return b.with_k8s(lambda api: KubernetesNodes(api, timeout_s=b.k8s_timeout()))


def build_integrations(config: OpsConfig, *, clock: Clock = utcnow) -> Integrations:
    b, out = _Builder(config, clock), _Out()
    for svc in config.services:
        _service(b, svc, out)
    for db in config.databases:
        _database(b, db, out)
    if config.integrations.kubernetes is not None:
        out.status[NODES] = (DeferredSource(Once(partial(_nodes, b))),)
    _checks(b, config, out)
    return Integrations(status_sources=out.status, rollback_targets=out.rollback,
                        backup_targets=out.backup, scale_targets=out.scale, check_sources=out.checks)
