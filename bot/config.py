"""`ops.yaml` -> OpsConfig: one validated, frozen description of channels, permissions and services.

Unknown keys and wrong types are errors that name the key path (`services[0].health.timeout`), so a
typo never silently turns a check off.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.config_checks import (  # noqa: F401  (re-exported)
    BackupAgeCheck,
    Check,
    Checklist,
    CloudWatchAlarmsCheck,
    LogErrorsCheck,
    ManualCheck,
    MetricCheck,
    NodesCheck,
    PodsCheck,
    Report,
    SchedulerSettings,
    ServiceCheck,
    SqlCheck,
    TlsExpiryCheck,
    validate_checklist_targets,
)
from bot.config_sections import (  # noqa: F401  (re-exported: import config models from bot.config)
    DEFAULT_SEVERITY_MAP,
    SEVERITY,
    AlertSettings,
    EscalationPolicy,
    EscalationStep,
    Oncall,
    Rotation,
    Route,
    SnsSettings,
    WebhookSettings,
)
from bot.config_types import SERVICE_NAME, Duration, Strict, _bounded, parse_duration  # noqa: F401

__all__ = [
    "TlsExpiryCheck",
    "SqlCheck",
    "PodsCheck",
    "MetricCheck",
    "LogErrorsCheck",
    "CloudWatchAlarmsCheck",
    "AlertSettings",
    "AwsSettings",
    "BackupAgeCheck",
    "Beanstalk",
    "Channels",
    "Check",
    "Checklist",
    "CloudFormation",
    "ConfigError",
    "DEFAULT_SEVERITY_MAP",
    "Database",
    "Duration",
    "EscalationPolicy",
    "EscalationStep",
    "HealthCheck",
    "IntegrationSettings",
    "KubernetesCronJob",
    "KubernetesDeployment",
    "KubernetesSettings",
    "LambdaAlias",
    "ManualCheck",
    "NodesCheck",
    "Oncall",
    "OpsConfig",
    "Permissions",
    "RdsInstance",
    "Report",
    "Rotation",
    "Route",
    "SERVICE_NAME",
    "SEVERITY",
    "SchedulerSettings",
    "Service",
    "ServiceCheck",
    "SnsSettings",
    "Strict",
    "WebhookSettings",
    "load_config",
    "parse_config",
    "parse_duration",
]


class Channels(Strict):
    default: str = "#oncall"
    alerts: str = "#alerts"


class Permissions(Strict):
    """Who may run what. A command not listed under `commands` is open to everyone in the channel."""

    admins: tuple[str, ...] = ()
    roles: dict[str, tuple[str, ...]] = {}
    commands: dict[str, tuple[str, ...]] = {}

    @model_validator(mode="after")
    def _roles_exist(self) -> Permissions:
        for command, roles in self.commands.items():
            unknown = sorted(set(roles) - set(self.roles))
            if unknown:
                raise ValueError(f"commands.{command} names undefined role(s): {', '.join(unknown)}")
        return self


class HealthCheck(Strict):
    url: HttpUrl
    expect_status: int = Field(200, ge=100, le=599)
    timeout: Duration = timedelta(seconds=3)

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
        return _bounded(value, low=timedelta(milliseconds=100), high=timedelta(minutes=2))


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
        return _bounded(value, low=timedelta(milliseconds=100), high=timedelta(minutes=2))


class IntegrationSettings(Strict):
    aws: AwsSettings | None = None
    kubernetes: KubernetesSettings | None = None


class KubernetesDeployment(Strict):
    deployment: str
    namespace: str = "default"
    rollout_timeout: Duration = timedelta(minutes=5)
    max_restarts: int = Field(5, ge=0)          # pods restarted more often than this make the service degraded


class LambdaAlias(Strict):
    function: str
    alias: str = "live"


class Beanstalk(Strict):
    environment: str
    application: str
    update_timeout: Duration = timedelta(minutes=15)


class CloudFormation(Strict):
    stack: str
    update_timeout: Duration = timedelta(minutes=30)


class Service(Strict):
    name: str = Field(pattern=SERVICE_NAME)
    description: str | None = None
    health: HealthCheck | None = None
    kubernetes: KubernetesDeployment | None = None
    lambda_: LambdaAlias | None = Field(None, alias="lambda")
    alarms: tuple[str, ...] = ()                # CloudWatch alarm names; any in ALARM makes the service down
    sqs_dlq: str | None = None                  # dead-letter queue name; messages waiting make it degraded
    beanstalk: Beanstalk | None = None
    cloudformation: CloudFormation | None = None


class RdsInstance(Strict):
    instance: str
    snapshot_timeout: Duration = timedelta(minutes=30)


class KubernetesCronJob(Strict):
    name: str
    namespace: str = "default"
    job_timeout: Duration = timedelta(minutes=30)


class Database(Strict):
    name: str = Field(pattern=SERVICE_NAME)
    description: str | None = None
    rds: RdsInstance | None = None
    kubernetes_cronjob: KubernetesCronJob | None = None
    max_backup_age: Duration = timedelta(hours=26)


class OpsConfig(Strict):
    timezone: str = "UTC"
    channels: Channels = Channels()
    permissions: Permissions = Permissions()
    integrations: IntegrationSettings = IntegrationSettings()
    alerts: AlertSettings = AlertSettings()
    oncall: Oncall = Oncall()
    checklists: dict[str, Checklist] = {}
    reports: dict[str, Report] = {}
    scheduler: SchedulerSettings = SchedulerSettings()
    services: tuple[Service, ...] = ()
    databases: tuple[Database, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from None
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> OpsConfig:
        seen: set[str] = set()
        items: list[Service | Database] = [*self.services, *self.databases]
        for item in items:
            if item.name in seen:
                raise ValueError(f"the name {item.name!r} is used twice (services and databases share names)")
            seen.add(item.name)
        needs_aws = any(s.lambda_ or s.alarms or s.sqs_dlq or s.beanstalk or s.cloudformation for s in self.services)
        needs_k8s = any(s.kubernetes for s in self.services) or any(d.kubernetes_cronjob for d in self.databases)
        if needs_k8s and self.integrations.kubernetes is None:
            raise ValueError("a service or database uses kubernetes: add `integrations: {kubernetes: {...}}`")
        validate_checklist_targets(self)
        if (needs_aws or any(d.rds for d in self.databases)) and self.integrations.aws is None:
            raise ValueError("a service or database uses AWS: add `integrations: {aws: {...}}` (may be empty)")
        return self

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def database(self, name: str) -> Database | None:
        return next((d for d in self.databases if d.name == name), None)


class ConfigError(Exception):
    """The config file cannot be used; `problems` are lines like `services[0].health.timeout: ...`."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(f"{path}: {p}" for p in self.problems))


def _key_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def parse_config(raw: Any, *, path: Path = Path("<config>")) -> OpsConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(path, ["(top level): expected a mapping of keys, got " + type(raw).__name__])
    try:
        return OpsConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, [f"{_key_path(e['loc'])}: {_message(e['msg'])}" for e in exc.errors()]) from None


def load_config(path: Path) -> OpsConfig:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, ["file not found (set OPSBOT_CONFIG or pass --config)"]) from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(path, [str(exc).replace("\n", " ")]) from exc
    return parse_config(raw, path=path)
