"""Checklists and scheduled reports: what each check asks, and when they run."""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, HttpUrl, field_validator, model_validator

from bot.config.aws_checks import KmsKeyCheck, S3LatestObjectCheck, SecretAgeCheck
from bot.config.data_checks import PostgresActivityCheck, PvcCheck, RedisCheck
from bot.config.secrets import SecretRef
from bot.config.services import Database, HealthCheckConfig, IntegrationSettings, Service
from bot.config.values import SERVICE_NAME, Cron, Duration, PositiveDuration, Problems, Strict, Zone, bounded


class ServiceCheck(Strict):
    """Every status source of a service (its /health, deployment, alarms …), as `/ops status <service>`; or,
    `check: http` with `url:` instead of `service:`, one URL judged as a service's `health:` is."""

    check: Literal["http", "service"]
    service: str | None = None
    url: HttpUrl | None = None
    headers: dict[str, str | SecretRef] = {}       # sent with the request; values are never shown
    expect_status: int = Field(200, ge=100, le=599)
    timeout: Duration = timedelta(seconds=3)

    @field_validator("timeout")
    @classmethod
    def _sane_timeout(cls, value: timedelta) -> timedelta:
        return bounded(value, low=timedelta(milliseconds=1), high=timedelta(minutes=1))

    @model_validator(mode="after")
    def _service_or_url(self) -> ServiceCheck:
        if self.check == "service" and self.url is not None:
            raise ValueError("`check: service` takes `service:`; for a URL write `check: http` with `url:`")
        if (self.service is None) == (self.url is None):
            raise ValueError("give `service:` (a service from services) or `url:` (one URL to GET)"
                             + (", not both" if self.service else ""))
        if self.url is None and self.model_fields_set & {"headers", "expect_status", "timeout"}:
            raise ValueError("headers, expect_status and timeout go with `url:`; a service's are under its "
                             "`health:`")
        return self

    def health(self) -> HealthCheckConfig | None:
        """The URL check as a service's `health:` would be, or None for a service check."""
        if self.url is None:
            return None
        return HealthCheckConfig(url=self.url, headers=self.headers, expect_status=self.expect_status,
                                 timeout=self.timeout)

    @property
    def label(self) -> str:
        return self.service or str(self.url)


class BackupAgeCheck(Strict):
    """The newest backup of a database is younger than `max_age` (default: the database's `max_backup_age`)."""

    check: Literal["backup_age"]
    database: str
    max_age: PositiveDuration | None = None

    @property
    def label(self) -> str:
        return f"backup of {self.database}"


class NodesCheck(Strict):
    check: Literal["kubernetes_nodes"]

    @property
    def label(self) -> str:
        return "Kubernetes nodes"


class ManualCheck(Strict):
    """A step for a person: shown with a Done button that records who did it and when."""

    check: Literal["manual"]
    text: str = Field(min_length=1, max_length=300)

    @property
    def label(self) -> str:
        return self.text


class CloudWatchAlarmsCheck(Strict):
    """No CloudWatch alarm of the account (or only those whose name starts with `prefix`) is in ALARM."""

    check: Literal["cloudwatch_alarms"]
    prefix: str | None = Field(default=None, min_length=1, max_length=255)

    @property
    def label(self) -> str:
        return f"CloudWatch alarms named {self.prefix}…" if self.prefix else "CloudWatch alarms"


MetricStat = Literal["Sum", "Average", "Minimum", "Maximum", "SampleCount"]
MetricMath = Literal["ratio", "free_storage"]
FREE_STORAGE_STATS = ("Minimum", "Average", "Maximum")


class MetricRef(Strict):
    """The metric a `math: ratio` divides by; what it leaves out is the numerator's."""

    name: str = Field(min_length=1, max_length=255)
    namespace: str | None = Field(default=None, min_length=1, max_length=255)
    dimensions: dict[str, str] | None = Field(default=None, max_length=30)
    stat: MetricStat | None = None


class MetricCheck(Strict):
    """One CloudWatch metric's statistic over the last `period`, within `min`/`max` (and `warn_min`/`warn_max`).

    With `math: ratio`, the value is 100 × this metric / `divide_by` over the window, a percentage (errors per
    invocation). With `math: free_storage`, it is the free storage of the RDS instance `db_instance` as a
    percentage of its allocated storage (FreeStorageSpace / AllocatedStorage)."""

    check: Literal["metric"]
    math: MetricMath | None = None
    namespace: str | None = Field(default=None, min_length=1, max_length=255)
    name: str | None = Field(default=None, min_length=1, max_length=255)
    dimensions: dict[str, str] = Field(default_factory=dict, max_length=30)
    stat: MetricStat | None = None
    divide_by: MetricRef | None = None
    db_instance: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9-]{0,62}$")
    period: Duration = timedelta(hours=1)
    max: float | None = None
    min: float | None = None
    warn_max: float | None = None
    warn_min: float | None = None

    @field_validator("period")
    @classmethod
    def _sane_period(cls, value: timedelta) -> timedelta:
        return bounded(value, low=timedelta(minutes=1), high=timedelta(days=14))

    @model_validator(mode="after")
    def _has_what_its_math_needs(self) -> MetricCheck:
        given = self.model_fields_set
        needed: tuple[str, ...]
        unwanted: tuple[str, ...]
        if self.math == "free_storage":
            needed, unwanted = ("db_instance",), ("namespace", "name", "dimensions", "divide_by")
        else:
            needed = ("namespace", "name", "stat") + (("divide_by",) if self.math == "ratio" else ())
            unwanted = ("db_instance",) + (() if self.math == "ratio" else ("divide_by",))
        only = {"db_instance": "`math: free_storage`", "divide_by": "`math: ratio`"}
        problems = [(key, "Field required" + (f" with `math: {self.math}`" if self.math else ""))
                    for key in needed if getattr(self, key) is None]
        problems += [(key, f"only with {only[key]}" if key in only else
                      "not with `math: free_storage` (it reads AWS/RDS FreeStorageSpace of `db_instance`)")
                     for key in unwanted if key in given]
        if self.math == "free_storage" and self.stat is not None and self.stat not in FREE_STORAGE_STATS:
            problems.append(("stat", f"with `math: free_storage` use {', '.join(FREE_STORAGE_STATS)}"))
        if problems:
            raise Problems(problems)
        return self

    @model_validator(mode="after")
    def _has_a_bound(self) -> MetricCheck:
        if self.max is None and self.min is None:
            raise ValueError("give max:, min: or both (the metric is compared with them)")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is above max ({self.max:g})")
        if self.warn_max is not None and self.max is not None and self.warn_max > self.max:
            raise ValueError(f"warn_max ({self.warn_max:g}) is above max ({self.max:g}): it would never warn")
        if self.warn_min is not None and self.min is not None and self.warn_min < self.min:
            raise ValueError(f"warn_min ({self.warn_min:g}) is below min ({self.min:g}): it would never warn")
        return self

    @property
    def percent(self) -> bool:
        """Whether the value (and so every bound) is a percentage."""
        return self.math is not None

    @property
    def label(self) -> str:
        if self.math == "free_storage":
            return f"free storage of RDS {self.db_instance}"
        numerator = _metric_label(str(self.namespace), str(self.name), self.dimensions)
        if self.divide_by is None:
            return numerator
        other = self.divide_by
        namespace, dimensions = other.namespace or self.namespace, other.dimensions
        if namespace == self.namespace and dimensions in (None, self.dimensions):
            return _metric_label(str(self.namespace), f"{self.name} / {other.name}", self.dimensions)
        return f"{numerator} / " + _metric_label(str(namespace), other.name,
                                                 self.dimensions if dimensions is None else dimensions)


def _metric_label(namespace: str, name: str, dimensions: dict[str, str]) -> str:
    dims = ", ".join(f"{k}={v}" for k, v in dimensions.items())
    return f"{namespace} {name}" + (f" ({dims})" if dims else "")


class LogErrorsCheck(Strict):
    """At most `max` events in a CloudWatch Logs group match `pattern` over the last `period`."""

    check: Literal["log_errors"]
    log_group: str = Field(min_length=1, max_length=512)
    pattern: str = Field(default="ERROR", max_length=1024)   # CloudWatch Logs filter pattern syntax
    period: Duration = timedelta(hours=24)
    max: int = Field(default=0, ge=0)

    @field_validator("period")
    @classmethod
    def _sane_period(cls, value: timedelta) -> timedelta:
        return bounded(value, low=timedelta(minutes=1), high=timedelta(days=30))

    @property
    def label(self) -> str:
        return f"{self.pattern or 'events'} in {self.log_group}"


class PodsCheck(Strict):
    """Every pod of a namespace runs (or has succeeded), is ready, and does not keep restarting."""

    check: Literal["kubernetes_pods"]
    namespace: str = Field(default="default", min_length=1, max_length=63)
    max_restarts: int = Field(default=5, ge=0)          # a container restarted more often than this is a warning

    @property
    def label(self) -> str:
        return f"pods in {self.namespace}"


class TlsExpiryCheck(Strict):
    """The certificate served at `host:port` is trusted, names `host`, and is not about to expire."""

    check: Literal["tls_expiry"]
    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9_.:-]+$")
    port: int = Field(default=443, ge=1, le=65535)
    min_days: int = Field(default=14, ge=0)             # fewer days left than this: fail
    warn_days: int | None = Field(default=None, ge=0)   # fewer days left than this: warn (default: twice min_days)
    ca_file: str | None = None                  # PEM bundle trusted instead of the system's CAs
    timeout: Duration = timedelta(seconds=5)

    @field_validator("timeout")
    @classmethod
    def _sane_timeout(cls, value: timedelta) -> timedelta:
        return bounded(value, low=timedelta(milliseconds=100), high=timedelta(minutes=1))

    @model_validator(mode="after")
    def _warn_before_fail(self) -> TlsExpiryCheck:
        if self.warn_days is not None and self.warn_days < self.min_days:
            raise ValueError(f"warn_days ({self.warn_days}) must not be below min_days ({self.min_days})")
        return self

    @property
    def warn_after_days(self) -> int:
        return self.warn_days if self.warn_days is not None else 2 * self.min_days

    @property
    def label(self) -> str:
        return f"TLS certificate of {self.host}" + (f":{self.port}" if self.port != 443 else "")


class SqlCheck(Strict):
    """A database whose SQLAlchemy URL is in the environment variable `url_env` answers; on PostgreSQL, its
    connections in use stay at or below `max_connections_pct` of max_connections."""

    check: Literal["sql"]
    url_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    max_connections_pct: float = Field(default=80, gt=0, le=100)
    timeout: Duration = timedelta(seconds=5)

    @field_validator("timeout")
    @classmethod
    def _sane_timeout(cls, value: timedelta) -> timedelta:
        # libpq (and so psycopg) waits at least 2 s for a connection, whatever it is told.
        return bounded(value, low=timedelta(seconds=2), high=timedelta(minutes=1))

    @property
    def label(self) -> str:
        return f"database at ${self.url_env}"


class HeartbeatCheck(Strict):
    """A heartbeat (top-level `heartbeats`) beat recently: ok within its `within`, a warning once the last beat
    is older than `warn_pct` of it, a failure past it."""

    check: Literal["heartbeat"]
    heartbeat: str = Field(pattern=SERVICE_NAME)
    warn_pct: float = Field(default=80, gt=0, le=100)

    @property
    def label(self) -> str:
        return f"heartbeat of {self.heartbeat}"


Check = Annotated[
    ServiceCheck | BackupAgeCheck | NodesCheck | ManualCheck | CloudWatchAlarmsCheck | MetricCheck | LogErrorsCheck
    | PodsCheck | TlsExpiryCheck | SqlCheck | HeartbeatCheck | S3LatestObjectCheck | SecretAgeCheck | KmsKeyCheck
    | RedisCheck | PostgresActivityCheck | PvcCheck,
    Field(discriminator="check"),
]


class Checklist(Strict):
    schedule: Cron | None = None                 # cron in the checklist's (or the config's) timezone
    timezone: Zone | None = None
    channel: str | None = None                   # default: channels.default
    title: str | None = None
    checks: tuple[Check, ...] = Field(min_length=1)


class SchedulerSettings(Strict):
    """How scheduled checklists and reports run (APScheduler, one leader among replicas)."""

    enabled: bool = True
    # run a missed slot this late (at least a minute: a run a few ms after its slot must never count as missed)
    misfire_grace_time: Annotated[Duration, AfterValidator(lambda v: bounded(
        v, low=timedelta(minutes=1), high=timedelta(days=7)))] = timedelta(hours=1)
    leader_poll: Annotated[Duration, AfterValidator(lambda v: bounded(
        v, low=timedelta(milliseconds=100), high=timedelta(minutes=5)))] = timedelta(seconds=5)


class Report(Strict):
    """A built-in report posted on a schedule (today: `weekly_incidents`)."""

    kind: Literal["weekly_incidents"] = "weekly_incidents"
    schedule: Cron | None = None
    timezone: Zone | None = None
    channel: str | None = None                   # default: channels.default
    title: str | None = None


AWS_CHECKS = (CloudWatchAlarmsCheck, MetricCheck, LogErrorsCheck, S3LatestObjectCheck, SecretAgeCheck, KmsKeyCheck)


def validate_checklist_targets(
    checklists: dict[str, Checklist], reports: dict[str, Report], *, integrations: IntegrationSettings,
    service: Callable[[str], Service | None], database: Callable[[str], Database | None],
) -> None:
    """Every check names something the config defines, with the integration it needs."""
    problems = [(f"{section}.{name}", "a name is lowercase letters, digits, '-', '_' or '.' (at most 63), so it "
                 "can be typed after `/ops checklist`")
                for section, names in (("checklists", checklists), ("reports", reports))
                for name in names if not re.match(SERVICE_NAME, name)]
    for name, checklist in checklists.items():
        for i, c in enumerate(checklist.checks):
            problem = _target_problem(c, integrations=integrations, service=service, database=database)
            if problem:
                problems.append((f"checklists.{name}.checks[{i}]", problem))
    if problems:
        raise Problems(problems)


def _target_problem(c: Check, *, integrations: IntegrationSettings, service: Callable[[str], Service | None],
                    database: Callable[[str], Database | None]) -> str | None:
    if isinstance(c, ServiceCheck) and c.service is not None and service(c.service) is None:
        return f"no service named {c.service!r}"
    if isinstance(c, BackupAgeCheck) and database(c.database) is None:
        return f"no database named {c.database!r}"
    if isinstance(c, NodesCheck | PodsCheck | PvcCheck) and integrations.kubernetes is None:
        return f"{c.check} needs integrations.kubernetes"
    if isinstance(c, AWS_CHECKS) and integrations.aws is None:
        return f"{c.check} needs integrations.aws (it may be empty: `aws: {{}}`)"
    return None
