"""A CloudFormation stack: its status, and rollback or cancel as its state allows.

A failed or running update is cancelled or rolled back by CloudFormation itself. A settled stack (UPDATE_COMPLETE,
...) is rolled back by redeploying its previous template, when one is known: a template the bot saw live on the
stack before (`TemplateMemory`: status checks remember each template they see), or the template of an executed
change set of the stack that differs from the current one (AWS keeps the last executed change set until the next
one runs). Whichever was live later is taken. When neither is known, the plan says so.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

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
# Settled states an update may start from; a stack in ROLLBACK_COMPLETE (its creation failed) can only be deleted.
UPDATABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE",
             "IMPORT_ROLLBACK_COMPLETE"}
MAX_BODY = 51_200                 # UpdateStack's TemplateBody limit in bytes; larger templates go through S3
HIDDEN = "****"                   # how CloudFormation shows a NoEcho parameter's value
REDEPLOY = "template:"            # RollbackPlan.to_ref prefix: "template:stored:<sha>" / "template:changeset:<name>"
KEPT_PER_STACK = 10


@dataclass(frozen=True, slots=True)
class SeenTemplate:
    """A template the bot saw live on a stack, with the parameter values it ran with."""

    stack: str
    sha: str                      # sha256 of the body, hex
    body: str
    parameters: Mapping[str, str]
    live_since: datetime          # the stack's LastUpdatedTime (or CreationTime) when it was seen


class TemplateMemory(Protocol):
    """Where templates seen live are kept, newest last."""

    def remember(self, seen: SeenTemplate) -> None: ...

    def recall(self, stack: str) -> Sequence[SeenTemplate]: ...


class InProcessTemplates(TemplateMemory):
    """The last KEPT_PER_STACK templates each stack ran, as this process saw them (gone when it stops)."""

    def __init__(self) -> None:
        self._seen: dict[str, list[SeenTemplate]] = {}
        self._lock = threading.Lock()

    def remember(self, seen: SeenTemplate) -> None:
        with self._lock:
            kept = [t for t in self._seen.get(seen.stack, []) if t.sha != seen.sha] + [seen]
            self._seen[seen.stack] = kept[-KEPT_PER_STACK:]

    def recall(self, stack: str) -> Sequence[SeenTemplate]:
        with self._lock:
            return tuple(self._seen.get(stack, ()))


@dataclass(frozen=True, slots=True)
class _Earlier:
    ref: str                      # RollbackPlan.to_ref
    words: str                    # where it comes from, for the card
    sha: str
    live_since: datetime


def health_of(status: str) -> Health:
    if status.endswith("_FAILED"):
        return Health.DOWN
    if status.endswith("_IN_PROGRESS") or status in ("ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"):
        return Health.DEGRADED
    return Health.OK if status.endswith("_COMPLETE") else Health.UNKNOWN


class CloudFormationStack:
    """StatusSource + RollbackTarget: what "roll back" means depends on the state the stack is in."""

    def __init__(self, cfg: cfgs.CloudFormationConfig, clients: AwsClients, *, poll_interval_s: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
                 templates: TemplateMemory | None = None) -> None:
        self.cfg, self.clients = cfg, clients
        self.templates = templates if templates is not None else InProcessTemplates()
        self._marker: tuple[str, str] | None = None      # (live since, status) of the last template remembered
        self.poller = Poller(interval_s=poll_interval_s, sleep=sleep, monotonic=monotonic)
        self.subject = f"stack {cfg.stack}"

    @property
    def timeout_s(self) -> float:
        return 2 * self.clients.timeout_s          # the stack, then (after it changed) its template

    def _client(self) -> Any:
        return self.clients.client("cloudformation")

    def _stack(self) -> dict[str, Any]:
        with translated(self.subject):
            return dict(self._client().describe_stacks(StackName=self.cfg.stack)["Stacks"][0])

    def _status(self) -> str:
        return str(self._stack()["StackStatus"])

    def _template(self, **which: str) -> str:
        with translated(self.subject):
            body = self._client().get_template(StackName=self.cfg.stack, TemplateStage="Original", **which)
        found = body.get("TemplateBody", "")
        return found if isinstance(found, str) else _json(found)     # boto3 decodes a JSON body to a dict

    def check(self) -> Sequence[Finding]:
        stack = self._stack()
        status = str(stack["StackStatus"])
        if status in UPDATABLE:
            self._remember(stack)
        return [Finding("cloudformation", self.subject, health_of(status), status)]

    def _remember(self, stack: dict[str, Any]) -> SeenTemplate | None:
        """Keep the stack's live template, once per change of the stack (its LastUpdatedTime and status)."""
        since = _live_since(stack)
        marker = (since.isoformat(), str(stack["StackStatus"]))
        if marker == self._marker:
            return None
        body = self._template()
        seen = SeenTemplate(stack=self.cfg.stack, sha=_sha(body), body=body, parameters=_parameters(stack),
                            live_since=since)
        self.templates.remember(seen)
        self._marker = marker
        return seen

    def plan_rollback(self, *, to: str | None = None) -> RollbackPlan:
        if to is not None:
            raise NotPossibleError(f"{self.subject}: CloudFormation rolls back to its last good state only; "
                                   "to go to a given release, deploy that template")
        stack = self._stack()
        status = str(stack["StackStatus"])
        if status in UPDATABLE:
            return self._plan_redeploy(stack)
        if status.endswith("_COMPLETE"):
            raise NotPossibleError(f"stack is {status}: nothing to roll back to; it can only be deleted")
        if status not in ACTIONS:
            raise NotPossibleError(f"stack is {status}: no rollback from this state; wait for it to settle "
                                   "or fix it in the CloudFormation console")
        call, words = ACTIONS[status]
        return RollbackPlan(target=self.subject, current=status, desired=words, from_ref=status, to_ref=call)

    # --- redeploying the previous template ---------------------------------------------------------------
    def _plan_redeploy(self, stack: dict[str, Any]) -> RollbackPlan:
        status = str(stack["StackStatus"])
        current = _sha(self._template())
        self._remember(stack)
        earlier = [e for e in (self._stored(current), self._change_set(current)) if e is not None]
        if not earlier:
            raise NotPossibleError(
                f"no earlier template known for stack {self.cfg.stack}: the bot has not seen another template live "
                "on it, and it has no executed change set with another one. Deploy the previous template yourself "
                "(aws cloudformation deploy).")
        chosen = max(earlier, key=lambda e: e.live_since)
        return RollbackPlan(target=self.subject, current=f"{status}, template {current[:12]}",
                            desired=f"template {chosen.sha[:12]} ({chosen.words})",
                            from_ref=f"{status} {current}", to_ref=REDEPLOY + chosen.ref)

    def _stored(self, current: str) -> _Earlier | None:
        other = [t for t in self.templates.recall(self.cfg.stack) if t.sha != current]
        if not other:
            return None
        t = other[-1]
        return _Earlier(f"stored:{t.sha}", f"live before, seen by opsbot at {t.live_since:%Y-%m-%d %H:%M} UTC",
                        t.sha, t.live_since)

    def _change_set(self, current: str) -> _Earlier | None:
        """The newest executed change set of the stack whose template is not the current one."""
        with translated(self.subject):
            pages = self._client().get_paginator("list_change_sets").paginate(StackName=self.cfg.stack)
            found = [c for page in pages for c in page.get("Summaries", [])]
        executed = [c for c in found if c.get("StackName") == self.cfg.stack         # moto lists every stack's
                    and c.get("ExecutionStatus") == "EXECUTE_COMPLETE"]
        for summary in sorted(executed, key=lambda c: _aware(c.get("CreationTime")), reverse=True):
            name = str(summary["ChangeSetName"])
            sha = _sha(self._template(ChangeSetName=name))
            if sha != current:
                return _Earlier(f"changeset:{name}", f"of change set {name}", sha, _aware(summary.get("CreationTime")))
        return None

    def _redeploy(self, plan: RollbackPlan, *, progress: Progress) -> Outcome:
        stack = self._stack()
        status, current = str(stack["StackStatus"]), _sha(self._template())
        if f"{status} {current}" != plan.from_ref:
            return Outcome(False, f"{self.subject} changed since the plan (now {status}, template {current[:12]}); "
                                  "nothing was done")
        source = plan.to_ref.removeprefix(REDEPLOY)
        found = self._source(source)
        if found is None:
            return Outcome(False, f"{self.subject}: the template to go back to is no longer known here "
                                  "(the bot restarted, or another replica planned this); nothing was done")
        body, values, capabilities = found
        if len(body.encode()) > MAX_BODY:
            return Outcome(False, f"the earlier template of {self.subject} is larger than the 51,200 bytes "
                                  "UpdateStack takes directly; deploy it from S3. Nothing was done")
        params = self._parameters_for(body, values, _parameters(stack))
        if isinstance(params, str):
            return Outcome(False, params)
        capabilities = sorted(set(capabilities) | set(stack.get("Capabilities") or ()))
        self._remember(stack)          # the template it replaces: an earlier one from now on
        with translated(self.subject):
            self._client().update_stack(StackName=self.cfg.stack, TemplateBody=body, Parameters=params,
                                        **({"Capabilities": capabilities} if capabilities else {}))
        progress(f"Updating {self.cfg.stack} to template {_sha(body)[:12]}; waiting…")
        return self._wait_updated(status, _live_since(stack), _sha(body))

    def _source(self, source: str) -> tuple[str, Mapping[str, str], Sequence[str]] | None:
        """The template body, its parameter values and capabilities named by a plan's to_ref."""
        kind, _, name = source.partition(":")
        if kind == "stored":
            kept = [t for t in self.templates.recall(self.cfg.stack) if t.sha == name]
            return (kept[-1].body, kept[-1].parameters, ()) if kept else None
        with translated(self.subject):
            described = self._client().describe_change_set(StackName=self.cfg.stack, ChangeSetName=name)
        values = {str(p["ParameterKey"]): str(p.get("ParameterValue", "")) for p in described.get("Parameters") or []}
        return self._template(ChangeSetName=name), values, tuple(described.get("Capabilities") or ())

    def _parameters_for(self, body: str, values: Mapping[str, str],
                        now: Mapping[str, str]) -> list[dict[str, Any]] | str:
        """UpdateStack parameters for `body`: the values it ran with, else the stack's current ones, else the
        template's defaults. A hidden (NoEcho) value it ran with that the stack no longer has cannot be given."""
        with translated(self.subject):
            declared = [str(p["ParameterKey"]) for p in
                        self._client().get_template_summary(TemplateBody=body).get("Parameters") or []]
        params: list[dict[str, Any]] = []
        for key in declared:
            if key in values and values[key] != HIDDEN:
                params.append({"ParameterKey": key, "ParameterValue": values[key]})
            elif key in now:
                params.append({"ParameterKey": key, "UsePreviousValue": True})
            elif key in values:
                return (f"the earlier template of {self.subject} needs the hidden parameter {key}, which the stack "
                        "no longer has; nothing was done")
        return params

    def _wait_updated(self, before: str, since: datetime, wanted: str) -> Outcome:
        last: dict[str, Any] = {}

        def settled() -> dict[str, Any] | None:
            # Right after the call the stack can still show its old state: that is not the end.
            nonlocal last
            last = self._stack()
            status = str(last["StackStatus"])
            if status.endswith("_IN_PROGRESS"):
                return None
            # AWS moves LastUpdatedTime when the update starts; an emulator may only swap the template
            moved = status != before or _live_since(last) != since or _sha(self._template()) == wanted
            return last if moved else None

        final = self.poller.until(settled, timeout_s=self.cfg.update_timeout.total_seconds())
        if final is None:
            return Outcome(False, f"{self.subject} still {last.get('StackStatus')} after "
                                  f"{humanize(self.cfg.update_timeout)}")
        status = str(final["StackStatus"])
        if status != "UPDATE_COMPLETE":
            return Outcome(False, f"{self.subject} is {status}: the update to the earlier template did not take")
        self._remember(final)
        return Outcome(True, f"{self.subject} is {status} on template {wanted[:12]}",
                       {"stack": self.cfg.stack, "status": status, "template": wanted})

    # --- cancelling or rolling back an update ------------------------------------------------------------
    def rollback(self, plan: RollbackPlan, *, progress: Progress) -> Outcome:
        if plan.to_ref.startswith(REDEPLOY):
            return self._redeploy(plan, progress=progress)
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


def _sha(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def _json(value: Any) -> str:
    return json.dumps(value)


def _aware(value: Any) -> datetime:
    if not isinstance(value, datetime):
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _live_since(stack: dict[str, Any]) -> datetime:
    return _aware(stack.get("LastUpdatedTime") or stack.get("CreationTime"))


def _parameters(stack: dict[str, Any]) -> dict[str, str]:
    return {str(p["ParameterKey"]): str(p.get("ParameterValue", "")) for p in stack.get("Parameters") or []}
