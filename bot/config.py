"""`ops.yaml` -> OpsConfig: one validated, frozen description of channels, permissions and services.

Unknown keys and wrong types are errors that name the key path (`services[0].health.timeout`), so a
typo never silently turns a check off.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> Any:
    """Accept '3s', '500ms', '5m', '26h', '1d' (plain numbers are seconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"not a duration: {value!r} (use e.g. 3s, 5m, 26h, 1d)")
        number, unit = match.groups()
        return timedelta(seconds=float(number) * _UNIT_SECONDS[unit])
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
SERVICE_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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


def _bounded(value: timedelta, *, low: timedelta, high: timedelta) -> timedelta:
    if not low <= value <= high:
        raise ValueError(f"must be between {low.total_seconds():g}s and {high.total_seconds():g}s")
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


SEVERITY = r"^P[1-4]$"
DEFAULT_SEVERITY_MAP = {"critical": "P1", "page": "P1", "high": "P2", "error": "P2", "major": "P2",
                        "warning": "P3", "warn": "P3", "minor": "P3", "info": "P4", "low": "P4", "none": "P4"}


class SnsSettings(Strict):
    """CloudWatch alarms via an SNS HTTP(S) subscription."""

    topics: tuple[str, ...] = ()                 # TopicArns we accept (and confirm subscriptions for)
    cert_host_pattern: str = r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"
    cert_scheme: str = Field(default="https", pattern=r"^https?$")   # http only for loopback tests

    @field_validator("cert_host_pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class WebhookSettings(Strict):
    """The generic JSON webhook: authenticated by a bearer token or an HMAC, both read from the environment."""

    token_env: str | None = None                 # name of the env var holding the bearer token
    hmac_secret_env: str | None = None           # name of the env var holding the HMAC-SHA256 secret


class Route(Strict):
    """Alerts matching every key of `match` go to `channel`; the first matching route wins."""

    match: dict[str, str] = {}                   # severity / service / source / any label
    channel: str


class EscalationStep(Strict):
    """`after` is measured from when the alert first fired; `notify` is `oncall` (the first rotation's
    person, or `oncall:<rotation>`) or Slack user IDs."""

    after: Duration
    notify: tuple[str, ...]

    @field_validator("notify", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value


class EscalationPolicy(Strict):
    steps: tuple[EscalationStep, ...] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _in_order(cls, value: tuple[EscalationStep, ...]) -> tuple[EscalationStep, ...]:
        if [s.after for s in value] != sorted(s.after for s in value):
            raise ValueError("steps must be in order of `after`")
        return value


class AlertSettings(Strict):
    sns: SnsSettings = SnsSettings()
    webhook: WebhookSettings = WebhookSettings()
    severity_map: dict[str, str] = {}            # source severity word -> P1..P4 (added to the defaults)
    default_severity: str = Field(default="P3", pattern=SEVERITY)
    routes: tuple[Route, ...] = ()
    incident_severities: tuple[str, ...] = ("P1", "P2")   # these open an incident automatically
    channel_interval: Duration = timedelta(seconds=1)       # Slack allows about one message a second per channel
    escalation: dict[str, EscalationPolicy] = {}            # P1..P4 -> steps while nobody acknowledges
    storm_threshold: int = Field(default=10, ge=1)          # new cards per channel at once; the rest: one summary
    auto_resolve_after: Duration | None = None              # resolve when a source never sends `resolved`
    ack_timeout: Duration | None = None                     # acknowledged but unresolved this long: fire again

    @field_validator("escalation")
    @classmethod
    def _severity_keys(cls, value: dict[str, EscalationPolicy]) -> dict[str, EscalationPolicy]:
        bad = sorted(k for k in value if not re.match(SEVERITY, k))
        if bad:
            raise ValueError(f"escalation policies are per severity P1..P4 (bad: {', '.join(bad)})")
        return value

    @field_validator("severity_map")
    @classmethod
    def _p_levels(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k, v in value.items() if not re.match(SEVERITY, v))
        if bad:
            raise ValueError(f"map each severity to P1..P4 (bad: {', '.join(bad)})")
        return {k.lower(): v for k, v in value.items()}

    def severity(self, word: str | None) -> str:
        if word and re.match(SEVERITY, word.upper()):
            return word.upper()
        mapping = {**DEFAULT_SEVERITY_MAP, **self.severity_map}
        return mapping.get((word or "").lower(), self.default_severity)


class Rotation(Strict):
    """A rotation hands over at `start` (local wall-clock time in `timezone`) and then every `every`,
    going through `members` in order. Wall-clock: a 09:00 hand-over stays at 09:00 across DST."""

    name: str = Field(pattern=SERVICE_NAME)
    members: tuple[str, ...] = Field(min_length=1)
    start: datetime                              # naive local time of the first hand-over, e.g. 2026-11-02 09:00
    every: Duration = timedelta(weeks=1)
    timezone: str | None = None                  # default: the config's timezone

    @field_validator("start")
    @classmethod
    def _naive(cls, value: datetime) -> datetime:
        if value.tzinfo is not None:
            raise ValueError("write the local time without an offset; the rotation's timezone applies")
        return value

    @field_validator("every")
    @classmethod
    def _whole_hours(cls, value: timedelta) -> timedelta:
        if value < timedelta(hours=1):
            raise ValueError("hand-overs at least an hour apart")
        return value


class Oncall(Strict):
    rotations: tuple[Rotation, ...] = ()


def _cron(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value)
    except ValueError as exc:
        raise ValueError(f"not a cron expression ({exc})") from None
    return value


Cron = Annotated[str, AfterValidator(_cron)]


class ServiceCheck(Strict):
    """Every status source of a service (its /health, deployment, alarms …), as `/ops status <service>`."""

    check: Literal["http", "service"]
    service: str


class BackupAgeCheck(Strict):
    check: Literal["backup_age"]
    database: str


class NodesCheck(Strict):
    check: Literal["kubernetes_nodes"]


class ManualCheck(Strict):
    """A step for a person: shown with a Done button that records who did it and when."""

    check: Literal["manual"]
    text: str = Field(min_length=1, max_length=300)


Check = Annotated[ServiceCheck | BackupAgeCheck | NodesCheck | ManualCheck, Field(discriminator="check")]


class Checklist(Strict):
    schedule: Cron | None = None                 # cron in the checklist's (or the config's) timezone
    timezone: str | None = None
    channel: str | None = None                   # default: channels.default
    title: str | None = None
    checks: tuple[Check, ...] = Field(min_length=1)


class OpsConfig(Strict):
    timezone: str = "UTC"
    channels: Channels = Channels()
    permissions: Permissions = Permissions()
    integrations: IntegrationSettings = IntegrationSettings()
    alerts: AlertSettings = AlertSettings()
    oncall: Oncall = Oncall()
    checklists: dict[str, Checklist] = {}
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
        self._checklist_targets()
        if (needs_aws or any(d.rds for d in self.databases)) and self.integrations.aws is None:
            raise ValueError("a service or database uses AWS: add `integrations: {aws: {...}}` (may be empty)")
        return self

    def _checklist_targets(self) -> None:
        for name, checklist in self.checklists.items():
            for i, c in enumerate(checklist.checks):
                if isinstance(c, ServiceCheck) and self.service(c.service) is None:
                    raise ValueError(f"checklists.{name}.checks[{i}]: no service named {c.service!r}")
                if isinstance(c, BackupAgeCheck) and self.database(c.database) is None:
                    raise ValueError(f"checklists.{name}.checks[{i}]: no database named {c.database!r}")
                if isinstance(c, NodesCheck) and self.integrations.kubernetes is None:
                    raise ValueError(f"checklists.{name}.checks[{i}]: kubernetes_nodes needs integrations.kubernetes")

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
