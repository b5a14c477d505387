"""What opsbot watches and operates: services, databases, and how to reach AWS and Kubernetes.

Each section under a service or database names one integration target; the adapter serving it lives in
`integrations/` under the name of the thing it operates (`KubernetesDeployment`, `LambdaAlias`, ...), so the
config models here end in `Config`.
"""
from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field, HttpUrl, field_validator

from bot.config.actions import ActionUse, RollbackActionUse
from bot.config.secrets import SecretRef
from bot.config.values import HEADER_NAME, SERVICE_NAME, Approvals, Duration, PositiveDuration, Strict, bounded

LOG_GROUP = re.compile(r"^[A-Za-z0-9_\-/.#]{1,512}$")


class HealthCheckConfig(Strict):
    url: HttpUrl
    expect_status: int = Field(200, ge=100, le=599)
    timeout: Duration = timedelta(seconds=3)
    headers: dict[str, str | SecretRef] = {}       # sent with the request; values are never shown

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str | SecretRef]) -> dict[str, str | SecretRef]:
        bad = [name for name in value if not re.match(HEADER_NAME, name)]
        if bad:
            raise ValueError(f"not header names: {', '.join(bad)}")
        return value

    def secret_headers(self) -> tuple[str, ...]:
        """The names of the headers whose values come from secrets."""
        return tuple(k for k, v in self.headers.items() if isinstance(v, SecretRef))

    @field_validator("timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0) or value > timedelta(minutes=1):
            raise ValueError("must be between 1ms and 60s")
        return value


class AwsSettings(Strict):
    """AWS access. Anything left out comes from the standard environment (AWS_REGION, AWS_ENDPOINT_URL,
    AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, instance roles)."""

    region: str | None = None
    endpoint_url: HttpUrl | None = None
    profile: str | None = None
    connect_timeout: Duration = timedelta(seconds=2)
    read_timeout: Duration = timedelta(seconds=10)
    poll_interval: Duration = timedelta(seconds=10)     # how often a backup/rollback in progress is checked

    @field_validator("connect_timeout", "read_timeout", "poll_interval")
    @classmethod
    def _sane(cls, value: timedelta) -> timedelta:
        return bounded(value, low=timedelta(milliseconds=100), high=timedelta(minutes=2))


class KubernetesSettings(Strict):
    """Kubernetes access: a kubeconfig context (KUBECONFIG or ~/.kube/config) or the in-cluster service account."""

    context: str | None = None
    kubeconfig: str | None = None
    in_cluster: bool = False
    timeout: Duration = timedelta(seconds=5)
    poll_interval: Duration = timedelta(seconds=2)      # how often a rollout or backup Job in progress is checked

    @field_validator("timeout", "poll_interval")
    @classmethod
    def _sane(cls, value: timedelta) -> timedelta:
        return bounded(value, low=timedelta(milliseconds=100), high=timedelta(minutes=2))


class IntegrationSettings(Strict):
    aws: AwsSettings | None = None
    kubernetes: KubernetesSettings | None = None


class KubernetesDeploymentConfig(Strict):
    deployment: str
    namespace: str = "default"
    rollout_timeout: PositiveDuration = timedelta(minutes=5)
    max_restarts: int = Field(5, ge=0)          # pods restarted more often than this make the service degraded


class LambdaAliasConfig(Strict):
    """A function, and the alias its callers invoke; without one they invoke $LATEST."""

    function: str
    alias: str | None = None
    update_timeout: PositiveDuration = timedelta(minutes=5)     # without an alias: how long a code update may take


class BeanstalkConfig(Strict):
    environment: str
    application: str
    update_timeout: PositiveDuration = timedelta(minutes=15)


class CloudFormationConfig(Strict):
    stack: str
    update_timeout: PositiveDuration = timedelta(minutes=30)


class LogsConfig(Strict):
    """Where `/ops logs` reads a service's logs, and what else to mask in them. `group` names one CloudWatch Logs
    group or several (`group: [a, b]`); without it the logs come from the service's pods, Lambda or Beanstalk."""

    group: str | tuple[str, ...] | None = None
    mask: tuple[SecretRef, ...] = ()            # secrets the service may log, masked like every configured secret

    @field_validator("group")
    @classmethod
    def _groups(cls, value: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        groups = (value,) if isinstance(value, str) else value
        if groups is None:
            return value
        if not groups or len(groups) > 10:
            raise ValueError("name one to ten log groups")
        if any(not LOG_GROUP.match(g) for g in groups):
            raise ValueError("a log group name is 1-512 characters of letters, digits and _ - / . #")
        return value

    @property
    def groups(self) -> tuple[str, ...]:
        return (self.group,) if isinstance(self.group, str) else (self.group or ())


class Service(Strict):
    name: str = Field(pattern=SERVICE_NAME)
    description: str | None = None
    health: HealthCheckConfig | None = None
    kubernetes: KubernetesDeploymentConfig | None = None
    lambda_: LambdaAliasConfig | None = Field(None, alias="lambda")
    alarms: tuple[str, ...] = ()                # CloudWatch alarm names; any in ALARM makes the service down
    sqs_dlq: str | None = None                  # dead-letter queue name; messages waiting make it degraded
    beanstalk: BeanstalkConfig | None = None
    cloudformation: CloudFormationConfig | None = None
    logs: LogsConfig | None = None              # CloudWatch Logs group(s) for /ops logs, secrets to mask in them
    approvals: Approvals = 1                    # different people who must confirm a rollback or scale
    rollback: RollbackActionUse | None = None   # a named action rolls it back (instead of the above)
    restart: ActionUse | None = None            # a named action restarts it (instead of kubernetes / beanstalk)

    @property
    def uses_aws(self) -> bool:
        return bool(self.lambda_ or self.alarms or self.sqs_dlq or self.beanstalk or self.cloudformation
                    or (self.logs and self.logs.groups))


class RdsInstanceConfig(Strict):
    instance: str
    snapshot_timeout: PositiveDuration = timedelta(minutes=30)


class KubernetesCronJobConfig(Strict):
    name: str
    namespace: str = "default"
    job_timeout: PositiveDuration = timedelta(minutes=30)


class Database(Strict):
    name: str = Field(pattern=SERVICE_NAME)
    description: str | None = None
    rds: RdsInstanceConfig | None = None
    kubernetes_cronjob: KubernetesCronJobConfig | None = None
    max_backup_age: PositiveDuration = timedelta(hours=26)
    approvals: Approvals = 1                    # different people who must confirm a backup
    backup: ActionUse | None = None             # a named action backs it up (instead of rds / kubernetes_cronjob)
