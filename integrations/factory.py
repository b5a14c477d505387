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
from bot.config.incidents import PostmortemS3
from bot.config.queues import REDRIVE_TIMEOUT
from bot.config.services import (
    BeanstalkConfig,
    CloudFormationConfig,
    Database,
    KubernetesDeploymentConfig,
    LambdaAliasConfig,
    Service,
)
from integrations.actions import ActionBackup, ActionRestart, ActionRollback, NamedAction
from integrations.base import (
    NODES,
    ActionTarget,
    AdapterError,
    BackupTarget,
    DocumentStore,
    Integrations,
    LogSource,
    RedriveTarget,
    RestartTarget,
    RollbackTarget,
    ScaleTarget,
    StatusSource,
    check_key,
)
from integrations.deferred import (
    DeferredBackup,
    DeferredLogs,
    DeferredRedrive,
    DeferredRestart,
    DeferredRollback,
    DeferredScale,
    DeferredSource,
    Once,
)
from integrations.documents import DeferredStore, DirectoryStore
from integrations.http import HttpClients, HttpHealth
from integrations.unavailable import Unavailable

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from integrations.aws import AwsClients
    from integrations.aws.beanstalk import BeanstalkEnvironment
    from integrations.aws.cloudformation import CloudFormationStack
    from integrations.aws.lambda_ import LambdaAlias, LambdaFunction
    from integrations.aws.logs import CloudWatchLogGroups
    from integrations.aws.rds import RdsInstance
    from integrations.aws.sqs_redrive import SqsRedriveQueue
    from integrations.kubernetes import KubernetesDeployment
    from integrations.kubernetes_backup import KubernetesCronJobBackup
    from integrations.kubernetes_logs import KubernetesPodLogs

T = TypeVar("T")
# Where a service's logs are when `logs:` does not say: Lambda's own group, and the group Elastic Beanstalk
# streams the application's output to (Amazon Linux 2 and 2023 platforms) once instance log streaming is on.
BEANSTALK_HINT = ("Elastic Beanstalk creates it only when instance log streaming to CloudWatch Logs is on "
                  "(Configuration → Updates, monitoring and logging); or name the group under the service's `logs:`")


def lambda_log_group(function: str) -> str:
    return f"/aws/lambda/{function}"


def beanstalk_log_group(environment: str) -> str:
    return f"/aws/elasticbeanstalk/{environment}/var/log/web.stdout.log"


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
                                                       poll_interval_s=b.k8s_poll(), clock=b.clock))


def _lambda(b: _Builder, cfg: LambdaAliasConfig) -> LambdaAlias | LambdaFunction:
    from integrations.aws.lambda_ import LambdaAlias, LambdaFunction

    if cfg.alias is None:
        return LambdaFunction(cfg, b.aws(), http=b.http.get, poll_interval_s=b.aws_poll())
    return LambdaAlias(cfg, b.aws())


def _alarms(b: _Builder, names: tuple[str, ...]) -> StatusSource:
    from integrations.aws.cloudwatch import CloudWatchAlarms

    return CloudWatchAlarms(names, b.aws())


def _dlq(b: _Builder, queue: str) -> StatusSource:
    from integrations.aws.sqs import SqsDeadLetterQueue

    return SqsDeadLetterQueue(queue, b.aws())


def _redrive(b: _Builder, queue: str, source_url: str | None, timeout: timedelta) -> SqsRedriveQueue:
    from integrations.aws.sqs_redrive import SqsRedriveQueue

    return SqsRedriveQueue(queue, b.aws(), source_url=source_url, timeout=timeout, poll_interval_s=b.aws_poll())


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


def _pod_logs(b: _Builder, cfg: KubernetesDeploymentConfig) -> KubernetesPodLogs | Unavailable:
    from integrations.kubernetes_logs import KubernetesPodLogs

    return b.with_k8s(lambda api: KubernetesPodLogs(cfg, api, timeout_s=b.k8s_timeout()))


def _log_groups(b: _Builder, groups: tuple[str, ...], hint: str) -> CloudWatchLogGroups:
    from integrations.aws.logs import CloudWatchLogGroups

    return CloudWatchLogGroups(groups, b.aws(), clock=b.clock, missing_hint=hint)


def _logs(b: _Builder, svc: Service) -> LogSource | None:
    """Where `/ops logs` reads: `logs:` when given, else the pods, else Lambda's group, else Beanstalk's."""
    if svc.logs is not None and svc.logs.groups:
        return DeferredLogs(Once(partial(_log_groups, b, svc.logs.groups, "")))
    if svc.kubernetes is not None:
        return DeferredLogs(Once(partial(_pod_logs, b, svc.kubernetes)))
    if svc.lambda_ is not None:
        group = lambda_log_group(svc.lambda_.function)
        return DeferredLogs(Once(partial(_log_groups, b, (group,), "Lambda creates it on the function's first "
                                         "invocation; or name the group under the service's `logs:`")))
    if svc.beanstalk is not None:
        return DeferredLogs(Once(partial(_log_groups, b, (beanstalk_log_group(svc.beanstalk.environment),),
                                         BEANSTALK_HINT)))
    return None


def _service(b: _Builder, svc: Service, out: _Out) -> None:
    sources: list[StatusSource] = []
    rollback: RollbackTarget | None = None
    restart: RestartTarget | None = None
    if svc.health is not None:
        sources.append(HttpHealth(svc.health, b.http))
    if svc.kubernetes is not None:
        dep = Once(partial(_deployment, b, svc.kubernetes))
        sources.append(DeferredSource(dep))
        rollback, restart = DeferredRollback(dep), DeferredRestart(dep)
        out.scale[svc.name] = DeferredScale(dep)
    if svc.lambda_ is not None:
        fn = Once(partial(_lambda, b, svc.lambda_))
        sources.append(DeferredSource(fn))
        rollback = rollback or DeferredRollback(fn)
    if svc.alarms:
        sources.append(DeferredSource(Once(partial(_alarms, b, svc.alarms))))
    if svc.sqs_dlq is not None:
        sources.append(DeferredSource(Once(partial(_dlq, b, svc.sqs_dlq))))
        out.dlq[svc.name] = DeferredRedrive(Once(partial(_redrive, b, svc.sqs_dlq, None, REDRIVE_TIMEOUT)))
    if svc.beanstalk is not None:
        env = Once(partial(_beanstalk, b, svc.beanstalk))
        sources.append(DeferredSource(env))
        rollback = rollback or DeferredRollback(env)
        restart = restart or DeferredRestart(env)
    if svc.cloudformation is not None:
        stack = Once(partial(_stack, b, svc.cloudformation))
        sources.append(DeferredSource(stack))
        rollback = rollback or DeferredRollback(stack)
    if svc.rollback is not None:            # a named action rolls it back, whatever else the service has
        rollback = ActionRollback(svc.name, svc.rollback, out.actions[svc.rollback.action])
    if svc.restart is not None:             # likewise a restart
        restart = ActionRestart(svc.name, svc.restart, out.actions[svc.restart.action])
    out.status[svc.name] = tuple(sources)
    if rollback is not None:
        out.rollback[svc.name] = rollback
    logs = _logs(b, svc)
    if logs is not None:
        out.logs[svc.name] = logs
    if restart is not None:
        out.restart[svc.name] = restart


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
    if db.backup is not None:               # a named action backs it up, whatever else the database has
        backup = ActionBackup(db.name, db.backup, out.actions[db.backup.action])
    out.status[db.name] = tuple(sources)
    if backup is not None:
        out.backup[db.name] = backup


@dataclass
class _Out:
    status: dict[str, tuple[StatusSource, ...]] = field(default_factory=dict)
    rollback: dict[str, RollbackTarget] = field(default_factory=dict)
    backup: dict[str, BackupTarget] = field(default_factory=dict)
    scale: dict[str, ScaleTarget] = field(default_factory=dict)
    dlq: dict[str, RedriveTarget] = field(default_factory=dict)
    restart: dict[str, RestartTarget] = field(default_factory=dict)
    checks: dict[str, StatusSource] = field(default_factory=dict)
    logs: dict[str, LogSource] = field(default_factory=dict)
    actions: dict[str, NamedAction] = field(default_factory=dict)


def _checks(b: _Builder, config: OpsConfig, out: _Out) -> None:
    """A source for every checklist check that does not simply reuse a service's or database's sources."""
    for name, checklist in config.checklists.items():
        for position, check in enumerate(checklist.checks):
            health = check.health() if isinstance(check, ServiceCheck) else None
            if health is not None:                 # `check: http` with its own url
                out.checks[check_key(name, position)] = HttpHealth(health, b.http)
                continue
            source = _check_source(b, check)
            if source is not None:
                out.checks[check_key(name, position)] = DeferredSource(Once(source))


def _check_source(b: _Builder, check: Check) -> Callable[[], StatusSource] | None:
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
        # rds and kubernetes_cronjob is judged by RDS, the backup `/ops backup` makes (as in _database()).
        db = b.config.database(check.database)
        assert db is not None                                   # config validation guarantees it
        if db.rds is not None:
            return partial(_rds, b, db, check.max_age)
        if db.kubernetes_cronjob is not None:
            return partial(_cronjob, b, db, check.max_age)
    return None


def _aws_check(b: _Builder, check: CloudWatchAlarmsCheck | MetricCheck | LogErrorsCheck | S3LatestObjectCheck
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


def _pods(b: _Builder, check: PodsCheck) -> StatusSource:
    from integrations.kubernetes_pods import KubernetesPods

    return b.with_k8s(lambda api: KubernetesPods(check, api, timeout_s=b.k8s_timeout()))


def _tls(b: _Builder, check: TlsExpiryCheck) -> StatusSource:
    from integrations.tls import TlsCertificate

    return TlsCertificate(check, clock=b.clock)


def _sql(check: SqlCheck) -> StatusSource:
    from integrations.sql import SqlDatabase

    return SqlDatabase(check)


def _data_check(b: _Builder, check: RedisCheck | PostgresActivityCheck | PvcCheck) -> StatusSource:
    if isinstance(check, RedisCheck):
        from integrations.redis_server import RedisServer  # redis-py only when a redis check runs

        return RedisServer(check)
    if isinstance(check, PostgresActivityCheck):
        from integrations.postgres_activity import PostgresActivity

        return PostgresActivity(check)
    from integrations.kubernetes_pvc import KubernetesPvcs

    return b.with_k8s(lambda api: KubernetesPvcs(check, api, timeout_s=b.k8s_timeout(), http=b.http.get,
                                                 clock=b.clock))


def _nodes(b: _Builder) -> StatusSource:
    from integrations.kubernetes import KubernetesNodes

    return b.with_k8s(lambda api: KubernetesNodes(api, timeout_s=b.k8s_timeout()))


def _s3_documents(b: _Builder, cfg: PostmortemS3) -> DocumentStore:
    from integrations.aws.s3 import S3DocumentStore

    return S3DocumentStore(cfg, b.aws())


def _postmortem_stores(b: _Builder, config: OpsConfig) -> tuple[DocumentStore, ...]:
    """Where `/ops incident postmortem` keeps its document besides Slack: incidents.postmortems.directory, .s3."""
    cfg = config.incidents.postmortems
    stores: list[DocumentStore] = []
    if cfg.directory is not None:
        stores.append(DirectoryStore(cfg.directory))
    if cfg.s3 is not None:
        stores.append(DeferredStore(Once(partial(_s3_documents, b, cfg.s3))))
    return tuple(stores)


def build_integrations(config: OpsConfig, *, clock: Clock = utcnow) -> Integrations:
    b, out = _Builder(config, clock), _Out()
    out.actions = {a.name: NamedAction(a) for a in config.actions}
    for svc in config.services:
        _service(b, svc, out)
    for db in config.databases:
        _database(b, db, out)
    for queue in config.queues:
        out.dlq[queue.name] = DeferredRedrive(Once(partial(
            _redrive, b, str(queue.url), str(queue.source_url) if queue.source_url else None, queue.redrive_timeout)))
    if config.integrations.kubernetes is not None:
        out.status[NODES] = (DeferredSource(Once(partial(_nodes, b))),)
    _checks(b, config, out)
    action_targets: dict[str, ActionTarget] = dict(out.actions)
    return Integrations(status_sources=out.status, rollback_targets=out.rollback, backup_targets=out.backup,
                        scale_targets=out.scale, restart_targets=out.restart, dlq_targets=out.dlq,
                        check_sources=out.checks, log_sources=out.logs, action_targets=action_targets,
                        postmortem_stores=_postmortem_stores(b, config))
