"""How each SDK-backed adapter is made: one `Builder` holds the clients, each made once on first need, and a
maker function per adapter imports its module and builds it from them.

Nothing here runs at build time. integrations.factory and integrations.check_factory wrap every maker in a
`Once` (integrations.deferred), so a bot loads boto3 or the kubernetes client only when it first asks AWS or
Kubernetes something, and a config that names neither never loads them (tests/test_lazy_imports.py checks
both; bench/idle_rss.py shows what it saves).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from bot.clock import Clock
from bot.config import OpsConfig
from bot.config.incidents import PostmortemS3
from bot.config.services import (
    BeanstalkConfig,
    CloudFormationConfig,
    Database,
    KubernetesDeploymentConfig,
    LambdaAliasConfig,
)
from integrations.base import AdapterError, DocumentStore, StatusSource
from integrations.deferred import Once
from integrations.http import HttpClients
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


class Builder:
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


def deployment(b: Builder, cfg: KubernetesDeploymentConfig) -> KubernetesDeployment | Unavailable:
    from integrations.kubernetes import KubernetesDeployment

    return b.with_k8s(lambda api: KubernetesDeployment(cfg, api, timeout_s=b.k8s_timeout(),
                                                       poll_interval_s=b.k8s_poll(), clock=b.clock))


def lambda_(b: Builder, cfg: LambdaAliasConfig) -> LambdaAlias | LambdaFunction:
    from integrations.aws.lambda_ import LambdaAlias, LambdaFunction

    if cfg.alias is None:
        return LambdaFunction(cfg, b.aws(), http=b.http.get, poll_interval_s=b.aws_poll())
    return LambdaAlias(cfg, b.aws())


def alarms(b: Builder, names: tuple[str, ...]) -> StatusSource:
    from integrations.aws.cloudwatch import CloudWatchAlarms

    return CloudWatchAlarms(names, b.aws())


def dlq(b: Builder, queue: str) -> StatusSource:
    from integrations.aws.sqs import SqsDeadLetterQueue

    return SqsDeadLetterQueue(queue, b.aws())


def redrive(b: Builder, queue: str, source_url: str | None, timeout: timedelta) -> SqsRedriveQueue:
    from integrations.aws.sqs_redrive import SqsRedriveQueue

    return SqsRedriveQueue(queue, b.aws(), source_url=source_url, timeout=timeout, poll_interval_s=b.aws_poll())


def beanstalk(b: Builder, cfg: BeanstalkConfig) -> BeanstalkEnvironment:
    from integrations.aws.beanstalk import BeanstalkEnvironment

    return BeanstalkEnvironment(cfg, b.aws(), poll_interval_s=b.aws_poll())


def stack(b: Builder, cfg: CloudFormationConfig) -> CloudFormationStack:
    from integrations.aws.cloudformation import CloudFormationStack

    return CloudFormationStack(cfg, b.aws(), poll_interval_s=b.aws_poll())


def rds(b: Builder, db: Database, max_age: timedelta) -> RdsInstance:
    from integrations.aws.rds import RdsInstance

    assert db.rds is not None
    return RdsInstance(db.name, db.rds, b.aws(), max_backup_age=max_age, clock=b.clock, poll_interval_s=b.aws_poll())


def cronjob(b: Builder, db: Database, max_age: timedelta) -> KubernetesCronJobBackup | Unavailable:
    from integrations.kubernetes_backup import KubernetesCronJobBackup

    cron = db.kubernetes_cronjob
    assert cron is not None
    return b.with_k8s(lambda api: KubernetesCronJobBackup(cron, api, timeout_s=b.k8s_timeout(), max_backup_age=max_age,
                                                          clock=b.clock, poll_interval_s=b.k8s_poll()))


def pod_logs(b: Builder, cfg: KubernetesDeploymentConfig) -> KubernetesPodLogs | Unavailable:
    from integrations.kubernetes_logs import KubernetesPodLogs

    return b.with_k8s(lambda api: KubernetesPodLogs(cfg, api, timeout_s=b.k8s_timeout()))


def log_groups(b: Builder, groups: tuple[str, ...], hint: str) -> CloudWatchLogGroups:
    from integrations.aws.logs import CloudWatchLogGroups

    return CloudWatchLogGroups(groups, b.aws(), clock=b.clock, missing_hint=hint)


def nodes(b: Builder) -> StatusSource:
    from integrations.kubernetes import KubernetesNodes

    return b.with_k8s(lambda api: KubernetesNodes(api, timeout_s=b.k8s_timeout()))


def s3_documents(b: Builder, cfg: PostmortemS3) -> DocumentStore:
    from integrations.aws.s3 import S3DocumentStore

    return S3DocumentStore(cfg, b.aws())
