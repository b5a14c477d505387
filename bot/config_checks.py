"""Config for checklists and scheduled reports: what each check asks, and when they run (see bot.config)."""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, Field

from bot.config_types import Duration, Strict

if TYPE_CHECKING:
    from bot.config import OpsConfig


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

    @property
    def label(self) -> str:
        return self.service


class BackupAgeCheck(Strict):
    """The newest backup of a database is younger than `max_age` (default: the database's `max_backup_age`)."""

    check: Literal["backup_age"]
    database: str
    max_age: Duration | None = None

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


Check = Annotated[ServiceCheck | BackupAgeCheck | NodesCheck | ManualCheck, Field(discriminator="check")]


class Checklist(Strict):
    schedule: Cron | None = None                 # cron in the checklist's (or the config's) timezone
    timezone: str | None = None
    channel: str | None = None                   # default: channels.default
    title: str | None = None
    checks: tuple[Check, ...] = Field(min_length=1)


class SchedulerSettings(Strict):
    """How scheduled checklists and reports run (APScheduler, one leader among replicas)."""

    enabled: bool = True
    misfire_grace_time: Duration = timedelta(hours=1)   # run a missed slot this late
    leader_poll: Duration = timedelta(seconds=5)   # a standby tries to take over this often


class Report(Strict):
    """A built-in report posted on a schedule (today: `weekly_incidents`)."""

    kind: Literal["weekly_incidents"] = "weekly_incidents"
    schedule: Cron | None = None
    timezone: str | None = None
    channel: str | None = None                   # default: channels.default
    title: str | None = None


def validate_checklist_targets(config: OpsConfig) -> None:
    """Every check names something the config defines, with the integration it needs."""
    for name, checklist in config.checklists.items():
        for i, c in enumerate(checklist.checks):
            where = f"checklists.{name}.checks[{i}]"
            if isinstance(c, ServiceCheck) and config.service(c.service) is None:
                raise ValueError(f"{where}: no service named {c.service!r}")
            if isinstance(c, BackupAgeCheck) and config.database(c.database) is None:
                raise ValueError(f"{where}: no database named {c.database!r}")
            if isinstance(c, NodesCheck) and config.integrations.kubernetes is None:
                raise ValueError(f"{where}: kubernetes_nodes needs integrations.kubernetes")
