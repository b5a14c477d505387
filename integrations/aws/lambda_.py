"""A Lambda function behind an alias: its state, and rollback of the alias to an earlier published version."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot import config as cfgs
from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import Finding, Health, NotPossibleError, Outcome, Plan, Progress, TargetNotFoundError


class LambdaAlias:
    def __init__(self, cfg: cfgs.LambdaAlias, clients: AwsClients) -> None:
        self.cfg, self.clients = cfg, clients
        self.subject = f"lambda {cfg.function}:{cfg.alias}"

    @property
    def timeout_s(self) -> float:
        return self.clients.timeout_s * 2

    def _client(self) -> Any:
        return self.clients.client("lambda")

    def _alias_version(self) -> str:
        with translated(self.subject):
            return str(self._client().get_alias(FunctionName=self.cfg.function, Name=self.cfg.alias)["FunctionVersion"])

    def check(self) -> Sequence[Finding]:
        with translated(self.subject):
            found = self._client().get_function(FunctionName=self.cfg.function, Qualifier=self.cfg.alias)
        conf = found["Configuration"]
        state, update = conf.get("State", "Active"), conf.get("LastUpdateStatus", "Successful")
        version = conf.get("Version", "?")
        if state == "Failed" or update == "Failed":
            reason = conf.get("StateReason") or conf.get("LastUpdateStatusReason") or "no reason given"
            return [Finding("lambda", self.subject, Health.DOWN, f"version {version} {state}/{update}: {reason}")]
        health = Health.OK if state == "Active" and update == "Successful" else Health.DEGRADED
        return [Finding("lambda", self.subject, health, f"version {version}, {state.lower()}")]

    def _published(self) -> list[int]:
        versions: list[int] = []
        with translated(self.subject):
            pages = self._client().get_paginator("list_versions_by_function").paginate(FunctionName=self.cfg.function)
            for page in pages:
                versions += [int(v["Version"]) for v in page["Versions"] if v["Version"].isdigit()]
        return sorted(versions)

    def plan_rollback(self, *, to: str | None = None) -> Plan:
        current = self._alias_version()
        published = self._published()
        if to is not None:
            if not to.isdigit() or int(to) not in published:
                known = ", ".join(map(str, published)) or "none"
                raise TargetNotFoundError(f"{self.subject}: no published version {to[:20]} (published: {known})")
            if to == current:
                raise NotPossibleError(f"{self.subject} already points at version {current}")
            target = int(to)
        else:
            earlier = [v for v in published if current.isdigit() and v < int(current)]
            if not earlier:
                raise NotPossibleError(f"{self.subject}: no published version before {current} to roll back to")
            target = earlier[-1]
        return Plan("rollback", self.subject, f"alias {self.cfg.alias} → version {current}",
                    f"alias {self.cfg.alias} → version {target}", {"from_version": current, "to_version": str(target)})

    def apply(self, plan: Plan, *, progress: Progress) -> Outcome:
        now = self._alias_version()
        if now != plan.params["from_version"]:
            return Outcome(False, f"{self.subject} moved to version {now} since the plan; nothing was done")
        with translated(self.subject):
            self._client().update_alias(FunctionName=self.cfg.function, Name=self.cfg.alias,
                                        FunctionVersion=plan.params["to_version"])
        after = self._alias_version()
        if after != plan.params["to_version"]:
            return Outcome(False, f"alias {self.cfg.alias} still points at version {after} after the update")
        progress(f"Alias {self.cfg.alias} of {self.cfg.function} updated.")
        return Outcome(True, f"alias {self.cfg.alias} now points at version {after}")
