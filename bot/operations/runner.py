"""Runs confirmed operations on a bounded pool of their own, each under a lease, and notices dead ones.

A rollout wait (minutes), a Beanstalk deploy or an RDS snapshot (half an hour) must neither hold a thread
that serves Slack nor die silently with its process:

- `submit()` queues a claimed operation for one of `operations.workers` threads of its own (daemon threads:
  a stuck SDK call never keeps the process from exiting).
- While it runs, its lease (`pending_actions.running_until`) is renewed every third of `operations.lease`.
- `reap()`, at start and periodically on every replica, marks operations whose lease ran out `interrupted`:
  the card says the outcome is unknown and where to look, the audit log has a row, and nothing is applied
  again. Stopping the bot marks its own running operations interrupted at once.
- The outcome is stored with its audit row and its incident notes in one transaction, then the card is
  redrawn through the Board and a line goes to the card's thread.
"""
from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot import audit, incidents
from bot.clock import Clock
from bot.config.access import Permissions
from bot.config.operations import OperationSettings
from bot.delivery import Board, DeliveryError
from bot.errors import AuditOutcome, new_ref
from bot.incidents import IncidentRecord
from bot.incidents import card as incident_card
from bot.operations import actions
from bot.operations.actions import ActionRecord
from bot.operations.card import NOUN, VERB
from bot.operations.card import card as action_card
from bot.operations.card import ref as action_ref
from bot.reply import escape, text_reply
from bot.storage.db import session_scope
from integrations.base import AdapterError, BackupPlan, Integrations, Outcome, Plan, Progress, RollbackPlan

log = logging.getLogger(__name__)
SOURCE = "operation"          # audit_log.source of an operation's outcome row


def apply_plan(integ: Integrations, subject: str, plan: Plan, *, progress: Progress) -> Outcome:
    """Apply a stored plan through its operation's typed target; refuses if the target left the config."""
    missing = Outcome(False, f"{subject} no longer has a {plan.kind} target in the config; nothing was done")
    if isinstance(plan, RollbackPlan):
        rollback = integ.rollback_targets.get(subject)
        return rollback.rollback(plan, progress=progress) if rollback else missing
    if isinstance(plan, BackupPlan):
        backup = integ.backup_targets.get(subject)
        return backup.backup(plan, progress=progress) if backup else missing
    scale = integ.scale_targets.get(subject)
    return scale.scale(plan, progress=progress) if scale else missing


class OperationRunner:
    def __init__(self, *, sessions: sessionmaker[Session], clock: Clock, settings: OperationSettings,
                 integrations: Integrations, board: Board, permissions: Permissions) -> None:
        self.sessions, self.clock, self.settings = sessions, clock, settings
        self.integrations, self.board, self.permissions = integrations, board, permissions
        self._queue: queue.Queue[tuple[ActionRecord, Future[ActionRecord]]] = queue.Queue()
        self._mine: dict[str, ActionRecord] = {}          # claimed here and not finished: their leases are ours
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []

    # --- running ----------------------------------------------------------------------------------
    def submit(self, action: ActionRecord) -> Future[ActionRecord]:
        """Run a claimed operation (state `running`, lease taken by the claim) as soon as a worker is free."""
        done: Future[ActionRecord] = Future()
        with self._lock:
            self._mine[action.id] = action
            if len(self._threads) < self.settings.workers:
                thread = threading.Thread(target=self._work, name=f"opsbot-operation-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()
        self._queue.put((action, done))
        return done

    def _work(self) -> None:
        while True:
            action, done = self._queue.get()
            try:
                done.set_result(self._run(action))
            except BaseException as exc:          # _run catches what it can; never lose the worker thread
                log.exception("operation %s: the runner itself failed", action.id)
                done.set_exception(exc)
            finally:
                with self._lock:
                    self._mine.pop(action.id, None)
                    self._idle.notify_all()

    def _run(self, action: ActionRecord) -> ActionRecord:
        plan = action.plan
        self._say(action, f":arrow_forward: <@{action.decided_by}> confirmed: {VERB[action.kind].lower()} "
                          f"{escape(plan.target)} ({escape(plan.current)} → {escape(plan.desired)}).")
        outcome = self._apply(action)
        finished, touched = self._finish(action, outcome)
        icon = ":white_check_mark:" if outcome.ok else ":x:"
        self._say(finished, f"{icon} {NOUN[finished.kind]} of *{escape(finished.subject)}* "
                            f"{'finished' if outcome.ok else 'failed'}: {escape(outcome.summary)}")
        self._redraw(finished, touched)
        return finished

    def _apply(self, action: ActionRecord) -> Outcome:
        try:
            return apply_plan(self.integrations, action.subject, action.plan,
                              progress=lambda line: self._say(action, line))
        except AdapterError as exc:
            return Outcome(False, str(exc))
        except Exception:
            ref = new_ref()
            log.exception("%s of %s crashed: ref=%s", action.kind, action.subject, ref)
            return Outcome(False, f"the operation crashed (ref `{ref}`); check the target's state before retrying")

    def _finish(self, action: ActionRecord, outcome: Outcome) -> tuple[ActionRecord, list[IncidentRecord]]:
        """The outcome, its audit row and its incident notes: one transaction."""
        now = self.clock()
        with session_scope(self.sessions) as session:
            done = actions.finish(session=session, action_id=action.id, ok=outcome.ok, summary=outcome.summary,
                                  at=now)
            session.add(self._audit_row(done, now, AuditOutcome.SUCCEEDED if outcome.ok else AuditOutcome.FAILED))
            touched = self._note_incidents(session, done, f"{'ok' if outcome.ok else 'FAILED'}: {outcome.summary}",
                                           now)
        return done, touched

    def _audit_row(self, a: ActionRecord, now: datetime, outcome: AuditOutcome) -> object:
        return audit.entry(at=now, user_id=a.decided_by or a.requested_by, channel_id=a.channel_id, source=SOURCE,
                           command=f"{a.kind} {a.subject}: {a.plan.current} -> {a.plan.desired}", subcommand=a.kind,
                           outcome=outcome, detail=(a.outcome or "")[:1000])

    @staticmethod
    def _note_incidents(session: Session, a: ActionRecord, note: str, now: datetime) -> list[IncidentRecord]:
        ids = incidents.note_for_service(session=session, service=a.subject, kind=a.kind,
                                         actor=a.decided_by or "opsbot", note=note, at=now)
        return [incidents.get(session=session, incident_id=i) for i in ids]

    # --- telling people -----------------------------------------------------------------------------
    def _say(self, a: ActionRecord, line: str) -> None:
        """A line in the operation card's thread (or the channel it was asked in)."""
        try:
            self.board.post(a.channel_id or "", text_reply(line, ephemeral=False), thread=action_ref(a.id))
        except DeliveryError as exc:
            log.warning("operation %s: could not post a progress line (%s)", a.id, exc)

    def _redraw(self, a: ActionRecord, touched: list[IncidentRecord]) -> None:
        now = self.clock()
        cards = [action_card(a, now=now, perms=self.permissions)]
        cards += [incident_card.card(r, now=now) for r in touched]
        for card in cards:
            try:
                self.board.redraw(card)
            except DeliveryError as exc:
                log.warning("could not redraw the %s card (%s)", card.ref, exc)

    # --- leases ---------------------------------------------------------------------------------------
    def renew(self) -> int:
        with self._lock:
            mine = list(self._mine)
        if not mine:
            return 0
        with session_scope(self.sessions) as session:
            return actions.renew(session=session, action_ids=mine, until=self.clock() + self.settings.lease)

    def reap(self) -> list[ActionRecord]:
        """Mark operations whose replica died `interrupted` (never those running here); say so on their cards."""
        now = self.clock()
        with self._lock:
            mine = set(self._mine)
        with session_scope(self.sessions) as session:
            gone = actions.interrupt_expired(session=session, now=now, exclude=mine,
                                             summary=lambda a: "the bot running it stopped before it finished")
            touched = {a.id: self._interrupted(session, a, now) for a in gone}
        for a in gone:
            log.warning("operation %s (%s of %s) interrupted: its lease ran out", a.id, a.kind, a.subject)
            self._say(a, f":warning: The {a.kind} of *{escape(a.subject)}* was interrupted: the bot running it "
                         f"stopped. The outcome is unknown; check {escape(a.plan.target)}. Nothing will be "
                         "re-applied automatically.")
            self._redraw(a, touched[a.id])
        return gone

    def _interrupted(self, session: Session, a: ActionRecord, now: datetime) -> list[IncidentRecord]:
        session.add(self._audit_row(a, now, AuditOutcome.INTERRUPTED))
        return self._note_incidents(session, a, f"INTERRUPTED (outcome unknown): {a.plan.current} -> "
                                                f"{a.plan.desired}", now)

    def interrupt_mine(self) -> list[ActionRecord]:
        """At shutdown: this replica's running operations will die with it; say so now rather than after the
        lease runs out."""
        with self._lock:
            mine = set(self._mine)
        if not mine:
            return []
        now = self.clock()
        with session_scope(self.sessions) as session:
            gone = actions.interrupt_expired(session=session, now=now, only=mine, ignore_lease=True,
                                             summary=lambda a: "the bot was stopped while it ran")
            touched = {a.id: self._interrupted(session, a, now) for a in gone}
        for a in gone:
            self._redraw(a, touched[a.id])
        return gone

    def idle(self, timeout: float) -> bool:
        """Wait until no operation runs here (tests and the console); False if `timeout` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._mine, timeout=timeout)

    def run_forever(self, stop: threading.Event) -> None:
        """Renew this replica's leases and reap dead replicas' operations until `stop`, then interrupt ours."""
        every = self.settings.lease.total_seconds() / 3
        try:
            while True:
                for step in (self.renew, self.reap):
                    try:
                        step()
                    except Exception:
                        log.exception("operation runner: %s failed; retrying in %.0fs", step.__name__, every)
                if stop.wait(every):
                    break
        finally:
            try:
                self.interrupt_mine()
            except Exception:
                log.exception("operation runner: could not mark running operations interrupted at shutdown")
