"""Destructive operations (rollback, backup, scale, restart, redrive, named actions): plan → Confirm card →
the clicker's role checked → claimed once → run on the operation runner under a lease → outcome on the card, in
the thread and in the audit log. One that needs more than one approval (four-eyes, `approvals: 2`) collects a
Confirm from each different person first (bot.operations.approvals has the rules); the last one claims it.

`Operations` is what commands call; each method is one transaction and returns the operation's card rendered
from its new state. `actions` holds the rows, `runner` runs them, `card` renders them.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from sqlalchemy.orm import Session, sessionmaker

from bot import permissions
from bot.clock import Clock
from bot.config.access import Permissions
from bot.config.operations import OperationSettings
from bot.operations import actions, approvals
from bot.operations.actions import ActionRecord
from bot.operations.card import card
from bot.operations.runner import OperationRunner
from bot.reply import Card
from bot.storage.db import session_scope
from bot.storage.models import ActionState
from integrations.base import Plan

__all__ = ["ActionRecord", "OperationRunner", "Operations"]


class Operations:
    def __init__(self, *, sessions: sessionmaker[Session], clock: Clock, settings: OperationSettings,
                 permissions: Permissions, runner: OperationRunner,
                 action_roles: Mapping[str, tuple[str, ...] | None] | None = None) -> None:
        self.sessions, self.clock, self.settings = sessions, clock, settings
        self.permissions, self.runner = permissions, runner
        # The roles each named action lists (config `actions[].roles`), as the config says now.
        self.action_roles = dict(action_roles or {})

    def _check(self, user: str, a: ActionRecord, *, doing: str) -> None:
        """The command's roles, and those of the named action that does it (the config's, else the plan's)."""
        permissions.check(self.permissions, user, a.kind, doing=f"{doing} this {a.kind}")
        name = a.plan.action
        if name is not None:
            roles = self.action_roles.get(name, a.plan.roles)
            permissions.check_action(self.permissions, user, name, roles, doing=f"{doing} this {a.kind}")

    def card(self, action: ActionRecord) -> Card:
        return card(action, now=self.clock(), perms=self.permissions)

    def propose(self, plan: Plan, *, subject: str, requested_by: str, channel_id: str | None,
                approvals: int = 1) -> ActionRecord:
        """Store the plan; it runs once `approvals` different people with the role have confirmed it."""
        with session_scope(self.sessions) as session:
            return actions.propose(session=session, plan=plan, subject=subject, requested_by=requested_by,
                                   channel_id=channel_id, at=self.clock(), approvals=approvals)

    def start(self, plan: Plan, *, subject: str, requested_by: str, channel_id: str | None) -> ActionRecord:
        """Run `plan` for `requested_by` without asking anyone (a named action with `confirm: false`, or its
        dry-run form): proposed and claimed as any operation, so it runs on the runner under a lease and is
        audited. Its card is posted, already showing it running, before it starts: its output goes to its
        thread, and the outcome redraws it. The caller has checked the roles (the claim checks them again)."""
        action = self.propose(plan, subject=subject, requested_by=requested_by, channel_id=channel_id)
        if channel_id:
            running = replace(action, state=ActionState.RUNNING, decided_by=requested_by, decided_at=self.clock())
            self.runner.show(self.card(running), channel=channel_id)
        return self.confirm(action.id, user=requested_by)

    def confirm(self, action_id: str, *, user: str) -> ActionRecord:
        """Record `user`'s approval (their role and the four-eyes rule checked under the row's lock); the one that
        completes the count claims the operation and hands it to the runner. The record returned is `running`
        when it runs, still awaiting when it needs more approvals. Raises NotAllowedError (role, or the
        requester as a later approver), ConflictError (approved by them already, decided, expired) or
        NotFoundError."""

        def may_approve(a: ActionRecord) -> None:
            self._check(user, a, doing="Confirming")
            approvals.check(a, user)

        with session_scope(self.sessions) as session:
            action = actions.approve(session=session, action_id=action_id, user=user, at=self.clock(),
                                     lease=self.settings.lease, allowed=may_approve)
        if action.state is ActionState.RUNNING:
            self.runner.submit(action)
        return action

    def cancel(self, action_id: str, *, user: str) -> ActionRecord:
        """The requester may always cancel; anyone else needs the role that may confirm."""

        def may_cancel(a: ActionRecord) -> None:
            if user != a.requested_by:
                self._check(user, a, doing="Cancelling")

        with session_scope(self.sessions) as session:
            return actions.cancel(session=session, action_id=action_id, user=user, at=self.clock(),
                                  allowed=may_cancel)

    def get(self, action_id: str) -> ActionRecord:
        with session_scope(self.sessions) as session:
            return actions.get(session=session, action_id=action_id)
