"""Runs confirmed operations on a bounded pool of their own, each under a lease, and notices dead ones.

A rollout wait (minutes), a Beanstalk deploy or an RDS snapshot (half an hour) must neither hold a thread
that serves Slack nor die silently with its process:

- `submit()` queues a claimed operation for one of `operations.workers` threads of its own (daemon threads:
  a stuck SDK call never keeps the process from exiting). One that had to wait for a free worker starts only
  if its row is still `running` (a compare-and-set): an operation marked interrupted meanwhile never runs.
- While it runs or waits, its lease (`pending_actions.running_until`) is renewed every third of
  `operations.lease`, on a thread of its own so that slow messages never delay a renewal.
- `reap()`, at start and periodically on every replica, marks operations whose lease ran out `interrupted`:
  the card says the outcome is unknown and where to look, the audit log has a row, and nothing is applied
  again. Stopping the bot marks its own operations interrupted at once, and starts nothing new.
- The outcome is stored with its audit row and its incident notes in one transaction, then the card is
  redrawn through the Board and a line goes to the card's thread. Messages are best effort (retried by the
  INTERACTIVE policy): a message that cannot be delivered never changes what happens to the operation.
- An operation runs in a copy of the context it was submitted from: started by a request (a Confirm click,
  a command), its log lines carry that request's id (bot.logfmt); started by the scheduler, none.
"""
from __future__ import annotations

import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy.orm import Session, sessionmaker

from bot import audit, incidents
from bot.clock import Clock
from bot.config.access import Permissions
from bot.config.operations import OperationSettings
from bot.delivery import INTERACTIVE, Board, RetryPolicy
from bot.errors import AuditOutcome, new_ref
from bot.incidents import IncidentRecord
from bot.incidents import card as incident_card
from bot.metrics import Metrics
from bot.operations import actions
from bot.operations.actions import ActionRecord
from bot.operations.card import NOUN, VERB, change_text
from bot.operations.card import card as action_card
from bot.operations.card import ref as action_ref
from bot.reply import Card, escape, text_reply
from bot.storage.db import session_scope
from integrations.base import (
    ActionPlan,
    AdapterError,
    BackupPlan,
    Integrations,
    Outcome,
    Plan,
    Progress,
    RedrivePlan,
    RestartPlan,
    RollbackPlan,
)

log = logging.getLogger(__name__)
SOURCE = "operation"                   # audit_log.source of an operation's outcome row
FINISH_RETRIES_S = (1.0, 2.0, 4.0, 8.0, 16.0)   # storing an outcome outlives a database blip
STOPPED_RUNNING = "The bot was stopped while it ran."
STOPPED_QUEUED = "The bot was stopped before it started: nothing was done."
DIED = "The bot running it stopped before it finished."


def apply_plan(integ: Integrations, subject: str, plan: Plan, *, progress: Progress) -> Outcome:
    """Apply a stored plan through its operation's typed target; refuses if the target left the config."""
    missing = Outcome(False, f"{subject} no longer has a {plan.kind} target in the config; nothing was done")
    if isinstance(plan, RollbackPlan):
        rollback = integ.rollback_targets.get(subject)
        return rollback.rollback(plan, progress=progress) if rollback else missing
    if isinstance(plan, BackupPlan):
        backup = integ.backup_targets.get(subject)
        return backup.backup(plan, progress=progress) if backup else missing
    if isinstance(plan, RedrivePlan):
        queue = integ.dlq_targets.get(subject)
        return queue.redrive(plan, progress=progress) if queue else missing
    if isinstance(plan, RestartPlan):
        restart = integ.restart_targets.get(subject)
        return restart.restart(plan, progress=progress) if restart else missing
    if isinstance(plan, ActionPlan):
        action = integ.action_targets.get(plan.action)
        return action.run(plan, progress=progress) if action else missing
    scale = integ.scale_targets.get(subject)
    return scale.scale(plan, progress=progress) if scale else missing


@dataclass(frozen=True, slots=True)
class _Job:
    action: ActionRecord
    done: Future[ActionRecord | None]
    waited: bool                       # no worker was free when it was submitted
    context: contextvars.Context       # the submitter's (its request id among it): the job runs in a copy


class OperationRunner:
    def __init__(self, *, sessions: sessionmaker[Session], clock: Clock, settings: OperationSettings,
                 integrations: Integrations, board: Board, permissions: Permissions,
                 policy: RetryPolicy = INTERACTIVE, metrics: Metrics | None = None) -> None:
        self.sessions, self.clock, self.settings = sessions, clock, settings
        self.metrics = metrics or Metrics()
        self.integrations, self.board, self.permissions, self.policy = integrations, board, permissions, policy
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._mine: dict[str, ActionRecord] = {}          # claimed here and not finished: their leases are ours
        self._started: set[str] = set()
        self._busy = 0
        self._stopping = False
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []

    # --- running ----------------------------------------------------------------------------------
    def submit(self, action: ActionRecord) -> Future[ActionRecord | None]:
        """Run a claimed operation (state `running`, lease taken by the claim) as soon as a worker is free.
        The future ends with the finished record, or None when it never ran (interrupted first)."""
        done: Future[ActionRecord | None] = Future()
        with self._lock:
            if self._stopping:
                stopping = True
            else:
                stopping = False
                self._mine[action.id] = action
                waited = self._busy + self._queue.qsize() >= self.settings.workers
                if len(self._threads) < self.settings.workers:
                    thread = threading.Thread(target=self._work, name=f"opsbot-operation-{len(self._threads)}",
                                              daemon=True)
                    self._threads.append(thread)
                    thread.start()
        if stopping:             # confirmed while the bot stops: say so instead of starting it
            self._interrupt({action.id}, summary=STOPPED_QUEUED)
            done.set_result(None)
            return done
        self._queue.put(_Job(action, done, waited, contextvars.copy_context()))
        return done

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            job.context.run(self._one, job)

    def _one(self, job: _Job) -> None:
        with self._lock:
            self._busy += 1
        try:
            job.done.set_result(self._run(job) if self._may_start(job) else None)
        except BaseException as exc:          # _run catches what it can; never lose the worker thread
            log.exception("operation %s: the runner itself failed", job.action.id)
            job.done.set_exception(exc)
        finally:
            with self._lock:
                self._busy -= 1
                self._mine.pop(job.action.id, None)
                self._started.discard(job.action.id)
                self._idle.notify_all()

    def _may_start(self, job: _Job) -> bool:
        """Not while stopping; and after a wait in line, only if nobody marked it interrupted meanwhile."""
        with self._lock:
            if self._stopping:
                return False
            self._started.add(job.action.id)
        if not job.waited:
            return True
        with session_scope(self.sessions) as session:
            still = actions.start(session=session, action_id=job.action.id, until=self.clock() + self.settings.lease)
        if not still:
            log.warning("operation %s was interrupted while it waited for a worker; not started", job.action.id)
        return still

    def _run(self, job: _Job) -> ActionRecord:
        action, plan = job.action, job.action.plan
        self._say(action, f":arrow_forward: <@{action.decided_by}> confirmed: {VERB[action.kind].lower()} "
                          f"{change_text(plan)}.")
        outcome = self._apply(action)
        finished, touched = self._finish(action, outcome)
        self.metrics.operation_runs.labels(action.kind, "succeeded" if outcome.ok else "failed").inc()
        log.info("operation %s (%s of %s) %s", action.id, action.kind, action.subject,
                 "succeeded" if outcome.ok else "failed")
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
        """The outcome, its audit row and its incident notes: one transaction, retried through a database blip
        (the lease is still renewed meanwhile: the operation is still this replica's)."""
        for wait_s in FINISH_RETRIES_S:
            try:
                return self._store_outcome(action, outcome)
            except Exception:              # a database blip (SQLAlchemyError); the last attempt raises it
                log.warning("operation %s: could not store its outcome; retrying in %.0fs", action.id, wait_s,
                            exc_info=True)
                threading.Event().wait(wait_s)
        return self._store_outcome(action, outcome)

    def _store_outcome(self, action: ActionRecord, outcome: Outcome) -> tuple[ActionRecord, list[IncidentRecord]]:
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

    # --- telling people (best effort) ------------------------------------------------------------------
    def _deliver(self, what: str, send: Callable[[], object]) -> None:
        try:
            self.policy.deliver(send, what)
        except Exception:                  # e.g. the card's location could not be read: still only a message
            log.exception("could not deliver %s", what)

    def show(self, card: Card, *, channel: str) -> None:
        """Post an operation's card (one started without a Confirm click) where its thread and redraws go."""
        self._deliver(f"the {card.ref} card", partial(self.board.show, card, channel=channel))

    def _say(self, a: ActionRecord, line: str) -> None:
        """A line in the operation card's thread (or the channel it was asked in)."""
        self._deliver(f"a line about operation {a.id}", lambda: self.board.post(
            a.channel_id or "", text_reply(line, ephemeral=False), thread=action_ref(a.id)))

    def _redraw(self, a: ActionRecord, touched: list[IncidentRecord]) -> None:
        now = self.clock()
        cards = [action_card(a, now=now, perms=self.permissions)]
        cards += [incident_card.card(r, now=now) for r in touched]
        for card in cards:
            self._deliver(f"the {card.ref} card", partial(self.board.redraw, card))

    # --- leases ---------------------------------------------------------------------------------------
    def renew(self) -> int:
        with self._lock:
            mine = list(self._mine)
        if not mine:
            return 0
        with session_scope(self.sessions) as session:
            return actions.renew(session=session, action_ids=mine, until=self.clock() + self.settings.lease)

    def reap(self) -> list[ActionRecord]:
        """Mark operations whose replica died `interrupted` (never those of this replica); say so on their cards."""
        with self._lock:
            mine = set(self._mine)
        now = self.clock()
        with session_scope(self.sessions) as session:
            gone = actions.interrupt_expired(session=session, now=now, exclude=mine, summary=lambda a: DIED)
            touched = {a.id: self._interrupted(session, a, now) for a in gone}
        for a in gone:
            self.metrics.operation_runs.labels(a.kind, "interrupted").inc()
            log.warning("operation %s (%s of %s) interrupted: its lease ran out", a.id, a.kind, a.subject)
            self._tell_interrupted(a, touched[a.id])
        return gone

    def _interrupt(self, ids: set[str], *, summary: str) -> list[ActionRecord]:
        now = self.clock()
        with session_scope(self.sessions) as session:
            gone = actions.interrupt_expired(session=session, now=now, only=ids, ignore_lease=True,
                                             summary=lambda a: summary)
            touched = {a.id: self._interrupted(session, a, now) for a in gone}
        for a in gone:
            self.metrics.operation_runs.labels(a.kind, "interrupted").inc()
            self._tell_interrupted(a, touched[a.id])
        return gone

    def _interrupted(self, session: Session, a: ActionRecord, now: datetime) -> list[IncidentRecord]:
        session.add(self._audit_row(a, now, AuditOutcome.INTERRUPTED))
        return self._note_incidents(session, a, f"INTERRUPTED (outcome unknown): {a.plan.current} -> "
                                                f"{a.plan.desired}", now)

    def _tell_interrupted(self, a: ActionRecord, touched: list[IncidentRecord]) -> None:
        self._say(a, f":warning: The {a.kind} of *{escape(a.subject)}* was interrupted. {a.outcome} "
                     f"Check {escape(a.plan.target)}. Nothing will be re-applied automatically.")
        self._redraw(a, touched)

    def interrupt_mine(self) -> list[ActionRecord]:
        """At shutdown: start nothing more, and mark this replica's operations interrupted now rather than
        after their lease runs out (those that never started say that nothing was done)."""
        with self._lock:
            self._stopping = True
            started, waiting = set(self._started), set(self._mine) - self._started
        gone = self._interrupt(started, summary=STOPPED_RUNNING) if started else []
        return gone + (self._interrupt(waiting, summary=STOPPED_QUEUED) if waiting else [])

    def idle(self, timeout: float) -> bool:
        """Wait until no operation runs here (tests and the console); False if `timeout` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._mine, timeout=timeout)

    def run_forever(self, stop: threading.Event) -> None:
        """Renew this replica's leases (on a thread of its own) and reap dead replicas' operations until
        `stop`, then interrupt ours."""
        every = self.settings.lease.total_seconds() / 3
        renewer = threading.Thread(target=self._keep, args=(self.renew, every, stop), name="opsbot-lease",
                                   daemon=True)
        renewer.start()
        try:
            self._keep(self.reap, every, stop)
        finally:
            renewer.join(every + 5)
            try:
                self.interrupt_mine()
            except Exception:
                log.exception("operation runner: could not mark running operations interrupted at shutdown")

    @staticmethod
    def _keep(step: Callable[[], object], every: float, stop: threading.Event) -> None:
        while True:
            try:
                step()
            except Exception:
                log.exception("operation runner: %s failed; retrying in %.0fs", getattr(step, "__name__", step),
                              every)
            if stop.wait(every):
                return
