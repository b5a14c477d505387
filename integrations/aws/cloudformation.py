"""A CloudFormation stack: its status, and rollback or cancel as its state allows."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from bot.clock import humanize
from bot.config import services as cfgs
from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import Finding, Health, NotPossibleError, Outcome, Progress, RollbackPlan
from integrations.polling import Poller

# stack state -> (API call, what it does, in words). CREATE_FAILED is left out on purpose: rolling back a
# stack that never had a good state deletes its resources, which is not what an on-call rollback means.
ACTIONS = {
    "UPDATE_IN_PROGRESS": ("cancel_update_stack", "cancel the update and roll back to the last good state"),
    "UPDATE_FAILED": ("rollback_stack", "roll back to the last good state"),
    "UPDATE_ROLLBACK_FAILED": ("continue_update_rollback", "continue the rollback that got stuck"),
}
ROLLED_BACK = "UPDATE_ROLLBACK_COMPLETE"


def health_of(status: str) -> Health:
    if status.endswith("_FAILED"):
        return Health.DOWN
    if status.endswith("_IN_PROGRESS") or status in ("ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"):
        return Health.DEGRADED
    return Health.OK if status.endswith("_COMPLETE") else Health.UNKNOWN


class CloudFormationStack:
    """StatusSource + RollbackTarget: what "roll back" means depends on the state the stack is in."""

    def __init__(self, cfg: cfgs.CloudFormationConfig, clients: AwsClients, *, poll_interval_s: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cfg, self.clients = cfg, clients
        self.poller = Poller(interval_s=poll_interval_s, sleep=sleep, monotonic=monotonic)
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

    def plan_rollback(self, *, to: str | None = None) -> RollbackPlan:
        if to is not None:
            raise NotPossibleError(f"{self.subject}: CloudFormation rolls back to its last good state only; "
                                   "to go to a given release, deploy that template")
        status = self._status()
        if status.endswith("_COMPLETE"):
            raise NotPossibleError(f"stack is {status}: nothing to roll back; redeploy the previous template instead")
        if status not in ACTIONS:
            raise NotPossibleError(f"stack is {status}: no rollback from this state; wait for it to settle "
                                   "or fix it in the CloudFormation console")
        call, words = ACTIONS[status]
        return RollbackPlan(target=self.subject, current=status, desired=words, from_ref=status, to_ref=call)

    def rollback(self, plan: RollbackPlan, *, progress: Progress) -> Outcome:
        before = plan.from_ref
        status = self._status()
        if status != before:
            return Outcome(False, f"{self.subject} is now {status}, not {before}; nothing was done")
        with translated(self.subject):
            getattr(self._client(), ACTIONS[before][0])(StackName=self.cfg.stack)
        progress(f"Asked CloudFormation to {plan.desired} ({self.cfg.stack}); waiting…")
        return self._wait(before)

    def _wait(self, before: str) -> Outcome:
        last, moved = before, False

        def settled() -> str | None:
            # Right after the call the stack can still show its old state: that is not the end.
            nonlocal last, moved
            last = self._status()
            moved = moved or last != before
            return None if last.endswith("_IN_PROGRESS") or not moved else last

        final = self.poller.until(settled, timeout_s=self.cfg.update_timeout.total_seconds())
        if final is None:
            return Outcome(False, f"{self.subject} still {last} after {humanize(self.cfg.update_timeout)}")
        return Outcome(final == ROLLED_BACK, f"{self.subject} is {final}", {"stack": self.cfg.stack, "status": final})
