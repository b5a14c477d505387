"""An Elastic Beanstalk environment: health colour, rollback to an earlier application version, and restart of
its app servers (`eb restart`)."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from bot.clock import humanize
from bot.config import services as cfgs
from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import (
    Finding,
    Health,
    NotPossibleError,
    Outcome,
    Progress,
    RestartPlan,
    RollbackPlan,
    TargetNotFoundError,
)
from integrations.polling import Poller

# Grey is "no health data yet" (launching, updating): not proven healthy, so degraded rather than unknown.
COLOUR = {"Green": Health.OK, "Yellow": Health.DEGRADED, "Red": Health.DOWN, "Grey": Health.DEGRADED}
SERVING = ("Green", "Yellow")
GONE = ("Terminating", "Terminated")


class BeanstalkEnvironment:
    """StatusSource + RollbackTarget (redeploys an earlier application version) + RestartTarget (restarts the app
    servers on every instance, same version)."""

    def __init__(self, cfg: cfgs.BeanstalkConfig, clients: AwsClients, *, poll_interval_s: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cfg, self.clients = cfg, clients
        self.poller = Poller(interval_s=poll_interval_s, sleep=sleep, monotonic=monotonic)
        self.subject = f"beanstalk {cfg.environment}"

    @property
    def timeout_s(self) -> float:
        return self.clients.timeout_s

    def _client(self) -> Any:
        return self.clients.client("elasticbeanstalk")

    def _environment(self) -> dict[str, Any]:
        with translated(self.subject):
            found = self._client().describe_environments(ApplicationName=self.cfg.application, IncludeDeleted=False,
                                                         EnvironmentNames=[self.cfg.environment])["Environments"]
        # Filter again here: not every endpoint applies the filters (moto returns every environment).
        live = [e for e in found if e.get("EnvironmentName") == self.cfg.environment
                and e.get("ApplicationName") == self.cfg.application and e.get("Status") not in GONE]
        if not live:
            raise TargetNotFoundError(f"{self.subject}: not found in application {self.cfg.application}")
        return dict(live[0])

    def check(self) -> Sequence[Finding]:
        env = self._environment()
        health = COLOUR.get(env.get("Health", ""), Health.DEGRADED)
        if env.get("Status") != "Ready" and health is Health.OK:
            health = Health.DEGRADED
        return [Finding("beanstalk", self.subject, health, _state(env))]

    def _versions(self) -> list[dict[str, Any]]:
        """The application's versions, oldest first."""
        with translated(self.subject):
            pages = self._client().get_paginator("describe_application_versions").paginate(
                ApplicationName=self.cfg.application)
            found = [dict(v) for page in pages for v in page["ApplicationVersions"]]
        return sorted(found, key=lambda v: v["DateCreated"])

    def plan_rollback(self, *, to: str | None = None) -> RollbackPlan:
        current = str(self._environment().get("VersionLabel", ""))
        versions = self._versions()
        target = self._named(to, current, versions) if to is not None else self._previous(current, versions)
        return RollbackPlan(target=self.subject, current=f"version {current}", desired=f"version {target}",
                            from_ref=current, to_ref=target)

    def _named(self, to: str, current: str, versions: list[dict[str, Any]]) -> str:
        if to not in [v["VersionLabel"] for v in versions]:
            raise TargetNotFoundError(f"{self.subject}: application {self.cfg.application} has no version {to[:60]}")
        if to == current:
            raise NotPossibleError(f"{self.subject} already runs version {current}")
        return to

    def _previous(self, current: str, versions: list[dict[str, Any]]) -> str:
        labels = [v["VersionLabel"] for v in versions]
        if current not in labels:
            raise NotPossibleError(f"{self.subject} runs version {current}, which the application no longer lists: "
                                   "name the version to roll back to")
        earlier = [v for v in versions[: labels.index(current)] if v.get("Status") != "FAILED"]
        if not earlier:
            raise NotPossibleError(f"{self.subject}: no application version before {current} to roll back to")
        return str(earlier[-1]["VersionLabel"])

    def rollback(self, plan: RollbackPlan, *, progress: Progress) -> Outcome:
        env = self._environment()
        if str(env.get("VersionLabel")) != plan.from_ref:
            return Outcome(False, f"{self.subject} runs version {env.get('VersionLabel')} now, not "
                                  f"{plan.from_ref} as planned; nothing was done")
        if env.get("Status") != "Ready":
            return Outcome(False, f"{self.subject} is {env.get('Status')}, not Ready; nothing was done")
        wanted = plan.to_ref
        with translated(self.subject):
            self._client().update_environment(EnvironmentName=self.cfg.environment, VersionLabel=wanted)
        progress(f"Deploying version {wanted} to {self.cfg.environment}; waiting until it is Ready…")
        return self._wait_for(wanted)

    def _wait_for(self, wanted: str) -> Outcome:
        last: dict[str, Any] = {}
        moved = False

        def settled() -> dict[str, Any] | None:
            nonlocal last, moved
            last = self._environment()
            moved = moved or last.get("Status") != "Ready"
            landed = last.get("VersionLabel") == wanted and last.get("Health") in SERVING
            gave_up = moved and last.get("VersionLabel") != wanted      # Ready again, on another version
            return last if last.get("Status") == "Ready" and (landed or gave_up) else None

        final = self.poller.until(settled, timeout_s=self.cfg.update_timeout.total_seconds())
        if final is None:
            return Outcome(False, f"{self.subject} not Ready and healthy on version {wanted} within "
                                  f"{humanize(self.cfg.update_timeout)}; now {_state(last)}")
        if final.get("VersionLabel") != wanted:
            return Outcome(False, f"{self.subject} did not take version {wanted}; now {_state(final)}")
        return Outcome(True, f"{self.subject} runs version {wanted}, health {final.get('Health')}",
                       {"environment": self.cfg.environment, "version": wanted})


    # --- restart --------------------------------------------------------------------------------
    def plan_restart(self) -> RestartPlan:
        env = self._environment()
        if env.get("Status") != "Ready":
            raise NotPossibleError(f"{self.subject} is {env.get('Status')}, not Ready: wait for it to settle, "
                                   "then restart")
        return RestartPlan(target=self.subject, current=_state(env),
                           desired=f"app servers restarted on every instance, version {env.get('VersionLabel')} "
                                   "(as eb restart)",
                           from_ref=str(env.get("DateUpdated", "")))

    def restart(self, plan: RestartPlan, *, progress: Progress) -> Outcome:
        env = self._environment()
        if str(env.get("DateUpdated", "")) != plan.from_ref:
            return Outcome(False, f"{self.subject} was updated since the plan (now {_state(env)}); nothing was done")
        if env.get("Status") != "Ready":
            return Outcome(False, f"{self.subject} is {env.get('Status')}, not Ready; nothing was done")
        with translated(self.subject):
            self._client().restart_app_server(EnvironmentName=self.cfg.environment)
        progress(f"Restarting the app servers of {self.cfg.environment}; waiting until it is Ready and healthy…")
        last: dict[str, Any] = {}
        moved = False

        def settled() -> dict[str, Any] | None:
            # Right after the call the environment can still show Ready from before: that is not the end.
            nonlocal last, moved
            before, last = last, self._environment()
            if before and _state(before) != _state(last):
                progress(f"…{_state(last)}")
            moved = moved or last.get("Status") != "Ready" or str(last.get("DateUpdated", "")) != plan.from_ref
            return last if moved and last.get("Status") == "Ready" and last.get("Health") in SERVING else None

        final = self.poller.until(settled, timeout_s=self.cfg.update_timeout.total_seconds())
        if final is None:
            return Outcome(False, f"{self.subject} not Ready and healthy within {humanize(self.cfg.update_timeout)} "
                                  f"after the restart; now {_state(last)}")
        return Outcome(True, f"app servers restarted; {self.subject} is {_state(final)}",
                       {"environment": self.cfg.environment, "version": str(final.get("VersionLabel"))})


def _state(env: dict[str, Any]) -> str:
    """'Green, Ready, version v42'."""
    return f"{env.get('Health', 'Grey')}, {env.get('Status', '?')}, version {env.get('VersionLabel', '?')}"
