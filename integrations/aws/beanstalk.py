"""An Elastic Beanstalk environment: health colour, and rollback to an earlier application version."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot import config as cfgs
from bot.clock import humanize
from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import Finding, Health, NotPossibleError, Outcome, Plan, Progress, TargetNotFoundError
from integrations.polling import Poller

COLOUR = {"Green": Health.OK, "Yellow": Health.DEGRADED, "Red": Health.DOWN, "Grey": Health.UNKNOWN}


class BeanstalkEnvironment:
    def __init__(self, cfg: cfgs.Beanstalk, clients: AwsClients, *, poller: Poller | None = None) -> None:
        self.cfg, self.clients = cfg, clients
        self.poller = poller or Poller(interval_s=10.0)
        self.subject = f"beanstalk {cfg.environment}"

    @property
    def timeout_s(self) -> float:
        return self.clients.timeout_s

    def _client(self) -> Any:
        return self.clients.client("elasticbeanstalk")

    def _environment(self) -> dict[str, Any]:
        with translated(self.subject):
            found = self._client().describe_environments(ApplicationName=self.cfg.application,
                                                         EnvironmentNames=[self.cfg.environment])["Environments"]
        live = [e for e in found if e.get("Status") != "Terminated"]
        if not live:
            raise TargetNotFoundError(f"{self.subject}: not found in application {self.cfg.application}")
        return dict(live[0])

    def check(self) -> Sequence[Finding]:
        env = self._environment()
        colour, status = env.get("Health", "Grey"), env.get("Status", "?")
        health = COLOUR.get(colour, Health.UNKNOWN)
        if status != "Ready" and health is Health.OK:
            health = Health.DEGRADED
        return [Finding("beanstalk", self.subject, health,
                        f"{colour}, {status}, version {env.get('VersionLabel', '?')}")]

    def _versions(self) -> list[str]:
        with translated(self.subject):
            found = self._client().describe_application_versions(ApplicationName=self.cfg.application)
        ordered = sorted(found["ApplicationVersions"], key=lambda v: v["DateCreated"])
        return [str(v["VersionLabel"]) for v in ordered]

    def plan_rollback(self, *, to: str | None = None) -> Plan:
        current = str(self._environment().get("VersionLabel", ""))
        versions = self._versions()
        if to is not None:
            if to not in versions:
                raise TargetNotFoundError(f"{self.subject}: no application version {to[:40]}")
            if to == current:
                raise NotPossibleError(f"{self.subject} already runs version {current}")
            target = to
        else:
            earlier = versions[: versions.index(current)] if current in versions else []
            if not earlier:
                raise NotPossibleError(f"{self.subject}: no application version before {current} to roll back to")
            target = earlier[-1]
        return Plan("rollback", self.subject, f"version {current}", f"version {target}",
                    {"from_version": current, "to_version": target})

    def apply(self, plan: Plan, *, progress: Progress) -> Outcome:
        if str(self._environment().get("VersionLabel")) != plan.params["from_version"]:
            return Outcome(False, f"{self.subject} changed version since the plan; nothing was done")
        with translated(self.subject):
            self._client().update_environment(EnvironmentName=self.cfg.environment,
                                              VersionLabel=plan.params["to_version"])
        progress(f"Deploying version {plan.params['to_version']} to {self.cfg.environment}; waiting for Ready…")
        env = self.poller.until(self._ready, timeout_s=self.cfg.update_timeout.total_seconds())
        if env is None:
            return Outcome(False, f"{self.subject} not Ready within {humanize(self.cfg.update_timeout)}")
        colour = env.get("Health", "Grey")
        ok = env.get("VersionLabel") == plan.params["to_version"] and colour in ("Green", "Yellow")
        return Outcome(ok, f"{self.subject} runs version {env.get('VersionLabel')}, health {colour}")

    def _ready(self) -> dict[str, Any] | None:
        env = self._environment()
        return env if env.get("Status") == "Ready" else None
