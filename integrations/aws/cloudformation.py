"""A CloudFormation stack: its status, and rollback or cancel as its state allows."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot import config as cfgs
from bot.clock import humanize
from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import Finding, Health, NotPossibleError, Outcome, Plan, Progress
from integrations.polling import Poller

# stack state -> (API call, what it does, in words)
ACTIONS = {
    "UPDATE_IN_PROGRESS": ("cancel_update_stack", "cancel the update; it rolls back to the last good state"),
    "UPDATE_FAILED": ("rollback_stack", "roll back to the last good state"),
    "CREATE_FAILED": ("rollback_stack", "roll back the failed create"),
    "UPDATE_ROLLBACK_FAILED": ("continue_update_rollback", "continue the rollback that got stuck"),
}
GOOD_ENDS = {"UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE", "UPDATE_COMPLETE", "CREATE_COMPLETE"}


def health_of(status: str) -> Health:
    if status.endswith("_FAILED"):
        return Health.DOWN
    if status.endswith("_IN_PROGRESS") or status in ("ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"):
        return Health.DEGRADED
    return Health.OK if status.endswith("_COMPLETE") else Health.UNKNOWN


class CloudFormationStack:
    def __init__(self, cfg: cfgs.CloudFormation, clients: AwsClients, *, poller: Poller | None = None) -> None:
        self.cfg, self.clients = cfg, clients
        self.poller = poller or Poller(interval_s=10.0)
        self.subject = f"stack {cfg.stack}"

    @property
    def timeout_s(self) -> float:
        return self.clients.timeout_s

    def _client(self) -> Any:
        return self.clients.client("cloudformation")

    def _status(self) -> str:
        with translated(self.subject):
            return str(self._client().describe_stacks(StackName=self.cfg.stack)["Stacks"][0]["StackStatus"])

    def check(self) -> Sequence[Finding]:
        status = self._status()
        return [Finding("cloudformation", self.subject, health_of(status), status)]

    def plan_rollback(self, *, to: str | None = None) -> Plan:
        if to is not None:
            raise NotPossibleError(f"{self.subject}: CloudFormation rolls back to its last good state; `to` is not "
                                   "supported (deploy that template instead)")
        status = self._status()
        if status not in ACTIONS:
            raise NotPossibleError(f"{self.subject} is {status}: nothing to roll back; "
                                   "redeploy the previous template instead")
        call, words = ACTIONS[status]
        return Plan("rollback", self.subject, status, words, {"from_status": status, "call": call})

    def apply(self, plan: Plan, *, progress: Progress) -> Outcome:
        status = self._status()
        if status != plan.params["from_status"]:
            return Outcome(False, f"{self.subject} is now {status}, not {plan.params['from_status']}; nothing was done")
        with translated(self.subject):
            getattr(self._client(), plan.params["call"])(StackName=self.cfg.stack)
        progress(f"Asked CloudFormation to {plan.desired} ({self.cfg.stack}); waiting…")
        final = self.poller.until(self._settled, timeout_s=self.cfg.update_timeout.total_seconds())
        if final is None:
            return Outcome(False, f"{self.subject} still in progress after {humanize(self.cfg.update_timeout)}")
        return Outcome(final in GOOD_ENDS, f"{self.subject} is {final}")

    def _settled(self) -> str | None:
        status = self._status()
        return None if status.endswith("_IN_PROGRESS") else status
