"""A Lambda function behind an alias: its state, and rollback of the alias to an earlier published version."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.config import services as cfgs
from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import Finding, Health, NotPossibleError, Outcome, Progress, RollbackPlan, TargetNotFoundError


class LambdaAlias:
    """StatusSource + RollbackTarget for `function:alias`."""

    def __init__(self, cfg: cfgs.LambdaAliasConfig, clients: AwsClients) -> None:
        self.cfg, self.clients = cfg, clients
        self.subject = f"lambda {cfg.function}:{cfg.alias}"

    @property
    def timeout_s(self) -> float:
        return 2 * self.clients.timeout_s          # two calls: the alias, then its version's configuration

    def _client(self) -> Any:
        return self.clients.client("lambda")

    def _alias(self) -> dict[str, Any]:
        with translated(self.subject):
            return dict(self._client().get_alias(FunctionName=self.cfg.function, Name=self.cfg.alias))

    def check(self) -> Sequence[Finding]:
        alias = self._alias()
        version = str(alias["FunctionVersion"])
        with translated(self.subject):
            conf = self._client().get_function_configuration(FunctionName=self.cfg.function, Qualifier=version)
        state, update = conf.get("State", "Active"), conf.get("LastUpdateStatus", "Successful")
        where = f"version {version}{_canary(alias)}"
        if "Failed" in (state, update):
            reason = conf.get("StateReason") or conf.get("LastUpdateStatusReason") or "no reason given"
            return [Finding("lambda", self.subject, Health.DOWN, f"{where} {state}/{update}: {reason}")]
        health = Health.OK if (state, update) == ("Active", "Successful") else Health.DEGRADED
        summary = f"{where}, {state.lower()}" + ("" if update == "Successful" else f", update {update}")
        return [Finding("lambda", self.subject, health, summary)]

    def _published(self) -> list[int]:
        """Published version numbers, ascending ($LATEST is not published)."""
        with translated(self.subject):
            pages = self._client().get_paginator("list_versions_by_function").paginate(FunctionName=self.cfg.function)
            found = [str(v["Version"]) for page in pages for v in page["Versions"]]
        return sorted(int(v) for v in found if v.isdigit())

    def plan_rollback(self, *, to: str | None = None) -> RollbackPlan:
        alias = self._alias()
        current, published = str(alias["FunctionVersion"]), self._published()
        target = self._named(to, current, published) if to is not None else self._previous(current, published)
        return RollbackPlan(target=self.subject, current=f"alias {self.cfg.alias} -> version {current}{_canary(alias)}",
                            desired=f"alias {self.cfg.alias} -> version {target}", from_ref=current, to_ref=str(target))

    def _named(self, to: str, current: str, published: list[int]) -> int:
        wanted = to.strip().removeprefix("v")
        if not wanted.isdigit() or int(wanted) not in published:
            known = ", ".join(map(str, published[-10:])) or "none"
            raise TargetNotFoundError(f"{self.subject}: no published version {to[:20]} (latest published: {known})")
        if wanted == current:
            raise NotPossibleError(f"{self.subject} already points at version {current}")
        return int(wanted)

    def _previous(self, current: str, published: list[int]) -> int:
        if not current.isdigit():
            raise NotPossibleError(f"{self.subject} points at {current}, not a published version: "
                                   "name the version to roll back to")
        earlier = [v for v in published if v < int(current)]
        if not earlier:
            raise NotPossibleError(f"{self.subject}: no published version before {current} to roll back to")
        return earlier[-1]

    def rollback(self, plan: RollbackPlan, *, progress: Progress) -> Outcome:
        alias = self._alias()
        now, wanted = str(alias["FunctionVersion"]), plan.to_ref
        if now != plan.from_ref:
            return Outcome(False, f"{self.subject} moved to version {now} since the plan; nothing was done")
        # RevisionId: AWS refuses the update if anyone changed the alias since we read it just now.
        same = {"RevisionId": alias["RevisionId"]} if alias.get("RevisionId") else {}
        with translated(self.subject):
            self._client().update_alias(FunctionName=self.cfg.function, Name=self.cfg.alias, FunctionVersion=wanted,
                                        RoutingConfig={"AdditionalVersionWeights": {}}, **same)
        after = str(self._alias()["FunctionVersion"])
        if after != wanted:
            return Outcome(False, f"alias {self.cfg.alias} still points at version {after} after the update")
        progress(f"Alias {self.cfg.alias} of {self.cfg.function} now points at version {after}.")
        return Outcome(True, f"alias {self.cfg.alias} now points at version {after}",
                       {"function": self.cfg.function, "alias": self.cfg.alias, "version": after})


def _canary(alias: dict[str, Any]) -> str:
    """' (+10% to version 4)' while the alias splits traffic, else ''."""
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return "".join(f" (+{weight:.0%} to version {version})" for version, weight in weights.items())
