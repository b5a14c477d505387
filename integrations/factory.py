"""The one place that maps config to adapters: grep for a config key here to find the class that serves it.

SDKs are imported on first need, inside the functions below: a config without AWS or Kubernetes never loads
boto3 or the kubernetes client (tests/test_lazy_imports.py checks it; bench/idle_rss.py shows what it saves).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
from bot.config.services import Database, Service
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
from integrations.http import HttpHealth, make_client
from integrations.unavailable import Unavailable

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from integrations.aws import AwsClients

T = TypeVar("T")


class _Builder:
    """Creates each SDK client once, on first need; a client that cannot be set up becomes `Unavailable`."""

    def __init__(self, config: OpsConfig, clock: Clock) -> None:
        self.config, self.clock = config, clock
        self.http = make_client()
        self._aws: AwsClients | None = None
        self._k8s: ApiClient | AdapterError | None = None

    def aws(self) -> AwsClients:
        if self._aws is None:
            from integrations.aws import AwsClients

            assert self.config.integrations.aws is not None   # config validation guarantees it
            self._aws = AwsClients(self.config.integrations.aws)
        return self._aws

    def k8s(self) -> ApiClient | AdapterError:
        """The kubernetes ApiClient, or the AdapterError that explains why there is none."""
        if self._k8s is None:
            from integrations.kubernetes import make_api_client

            settings = self.config.integrations.kubernetes
            assert settings is not None                         # config validation guarantees it
            try:
                self._k8s = make_api_client(settings)
            except AdapterError as exc:
                self._k8s = exc
        return self._k8s

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


def _service(b: _Builder, svc: Service, out: _Out) -> None:
    sources: list[StatusSource] = []
    rollback: RollbackTarget | None = None
    if svc.health is not None:
        sources.append(HttpHealth(svc.health, b.http))
    if svc.kubernetes is not None:
        from integrations.kubernetes import KubernetesDeployment

        cfg = svc.kubernetes
        dep = b.with_k8s(lambda api: KubernetesDeployment(cfg, api, timeout_s=b.k8s_timeout(),
                                                          poll_interval_s=b.k8s_poll()))
        sources.append(dep)
        rollback = dep
        out.scale[svc.name] = dep
    if svc.lambda_ is not None:
        from integrations.aws.lambda_ import LambdaAlias

        fn = LambdaAlias(svc.lambda_, b.aws())
        sources.append(fn)
        rollback = rollback or fn
    if svc.alarms:
        from integrations.aws.cloudwatch import CloudWatchAlarms

        sources.append(CloudWatchAlarms(svc.alarms, b.aws()))
    if svc.sqs_dlq is not None:
        from integrations.aws.sqs import SqsDeadLetterQueue

        sources.append(SqsDeadLetterQueue(svc.sqs_dlq, b.aws()))
    if svc.beanstalk is not None:
        from integrations.aws.beanstalk import BeanstalkEnvironment

        env = BeanstalkEnvironment(svc.beanstalk, b.aws(), poll_interval_s=b.aws_poll())
        sources.append(env)
        rollback = rollback or env
    if svc.cloudformation is not None:
        from integrations.aws.cloudformation import CloudFormationStack

        stack = CloudFormationStack(svc.cloudformation, b.aws(), poll_interval_s=b.aws_poll())
        sources.append(stack)
        rollback = rollback or stack
    out.status[svc.name] = tuple(sources)
    if rollback is not None:
        out.rollback[svc.name] = rollback


def _database(b: _Builder, db: Database, out: _Out) -> None:
    sources: list[StatusSource] = []
    backup: BackupTarget | None = None
    if db.rds is not None:
        from integrations.aws.rds import RdsInstance

        backup = RdsInstance(db.name, db.rds, b.aws(), max_backup_age=db.max_backup_age, clock=b.clock,
                             poll_interval_s=b.aws_poll())
        sources.append(backup)
    if db.kubernetes_cronjob is not None:
        from integrations.kubernetes_backup import KubernetesCronJobBackup

        cron = db.kubernetes_cronjob
        job = b.with_k8s(lambda api: KubernetesCronJobBackup(
            cron, api, timeout_s=b.k8s_timeout(), max_backup_age=db.max_backup_age, clock=b.clock,
            poll_interval_s=b.k8s_poll()))
        sources.append(job)
        backup = backup or job
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
                out.checks[check_key(name, position)] = source


def _check_source(b: _Builder, check: Check) -> StatusSource | None:
    """The source a check asks on its own; None for checks that reuse a service's or database's sources
    (service, kubernetes_nodes, backup_age without max_age) and for manual steps."""
    if isinstance(check, CloudWatchAlarmsCheck):
        from integrations.aws.cloudwatch import CloudWatchAccountAlarms

        return CloudWatchAccountAlarms(check, b.aws())
    if isinstance(check, MetricCheck):
        from integrations.aws.cloudwatch import CloudWatchMetric

        return CloudWatchMetric(check, b.aws(), clock=b.clock)
    if isinstance(check, LogErrorsCheck):
        from integrations.aws.logs import CloudWatchLogErrors

        return CloudWatchLogErrors(check, b.aws(), clock=b.clock)
    if isinstance(check, PodsCheck):
        from integrations.kubernetes_pods import KubernetesPods

        pods_check = check
        pods: StatusSource = b.with_k8s(lambda api: KubernetesPods(pods_check, api, timeout_s=b.k8s_timeout()))
        return pods
    if isinstance(check, TlsExpiryCheck):
        from integrations.tls import TlsCertificate

        return TlsCertificate(check, clock=b.clock)
    if isinstance(check, SqlCheck):
        from integrations.sql import SqlDatabase

        return SqlDatabase(check)
    if isinstance(check, BackupAgeCheck) and check.max_age is not None:
        # The database's backup source again, judged against this check's max_age. A database with both
        # rds and kubernetes_cronjob is judged by RDS, the backup `/ops backup` makes (as in _database()).
        db = b.config.database(check.database)
        assert db is not None                                   # config validation guarantees it
        max_age = check.max_age
        if db.rds is not None:
            from integrations.aws.rds import RdsInstance

            return RdsInstance(db.name, db.rds, b.aws(), max_backup_age=max_age, clock=b.clock,
                               poll_interval_s=b.aws_poll())
        if db.kubernetes_cronjob is not None:
            from integrations.kubernetes_backup import KubernetesCronJobBackup

            cron = db.kubernetes_cronjob
            job: StatusSource = b.with_k8s(lambda api: KubernetesCronJobBackup(
                cron, api, timeout_s=b.k8s_timeout(), max_backup_age=max_age, clock=b.clock,
                poll_interval_s=b.k8s_poll()))
            return job
    return None


def build_integrations(config: OpsConfig, *, clock: Clock = utcnow) -> Integrations:
    b, out = _Builder(config, clock), _Out()
    for svc in config.services:
        _service(b, svc, out)
    for db in config.databases:
        _database(b, db, out)
    if config.integrations.kubernetes is not None:
        from integrations.kubernetes import KubernetesNodes

        out.status[NODES] = (b.with_k8s(lambda api: KubernetesNodes(api, timeout_s=b.k8s_timeout())),)
    _checks(b, config, out)
    return Integrations(status_sources=out.status, rollback_targets=out.rollback,
                        backup_targets=out.backup, scale_targets=out.scale, check_sources=out.checks)
