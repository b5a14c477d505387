"""Takes due escalation steps and tells people: a mention in the alert card's thread and a direct message
to each person of the step. Also runs the alerts' time-driven housekeeping (auto-resolve, stale acks).

Any number of replicas may run it: a step is taken once (see bot.alerts.escalation). A step is recorded
before anyone is told; each notification is delivered on its own, so a refused thread reply still lets
every direct message go out.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial

from sqlalchemy.orm import Session, sessionmaker

from bot import incidents
from bot.alerts import escalation, housekeeping, service
from bot.alerts.card import ref as alert_ref
from bot.alerts.pipeline import BOT_ACTOR, enqueue
from bot.clock import Clock, humanize
from bot.config import OpsConfig
from bot.delivery import SCHEDULED, Board, RetryPolicy
from bot.reply import escape, text_reply
from bot.storage.db import session_scope
from bot.storage.models import Alert

log = logging.getLogger(__name__)


class Escalator:
    def __init__(self, *, sessions: sessionmaker[Session], clock: Clock, config: OpsConfig, board: Board,
                 policy: RetryPolicy = SCHEDULED, stop: threading.Event | None = None) -> None:
        self.sessions, self.clock, self.config, self.board, self.policy = sessions, clock, config, board, policy
        self._stop = stop

    def run_once(self) -> list[escalation.Escalation]:
        now = self.clock()
        with session_scope(self.sessions) as session:
            housekeeping.auto_resolve(session=session, settings=self.config.alerts, now=now)
            for alert_id in housekeeping.refire_stale_acks(session=session, settings=self.config.alerts, now=now):
                log.info("alert #%s: acknowledgement timed out; firing again", alert_id)
            due = escalation.due(session=session, now=now)
        taken = []
        for alert_id, steps in due:
            with session_scope(self.sessions) as session:
                step = escalation.take_step(session=session, config=self.config, alert_id=alert_id, taken=steps,
                                            now=now)
                if step is None:
                    continue
                row = session.get(Alert, alert_id)
                assert row is not None
                enqueue(session, row, now)                   # the card shows who it went to
                if row.incident_id is not None:
                    incidents.add_event(session=session, incident_id=row.incident_id, at=now, kind="escalated",
                                        actor=BOT_ACTOR, note=f"step {step.step}/{step.of}: " + ", ".join(step.users))
                alert = service.record(row)
            taken.append(step)
            self._tell(step, alert)
        return taken

    def _tell(self, step: escalation.Escalation, alert: service.AlertRecord) -> None:
        who = " ".join(f"<@{u}>" for u in step.users) or "nobody (no one resolved from the policy)"
        age = humanize(self.clock() - alert.first_seen)
        text = (f":rotating_light: {who} — *{alert.severity} {escape(alert.title[:100])}* has not been acknowledged "
                f"after {age} (escalation step {step.step} of {step.of}).")
        if alert.notified_at is not None:       # under its card; an alert folded into a storm summary has none
            self._deliver(partial(self.board.post, alert.channel, text_reply(text, ephemeral=False),
                                  thread=alert_ref(alert.id)), f"escalation step of alert #{alert.id} in its thread")
        dm = text_reply(text + f" Alert #{alert.id} in <#{alert.channel}>.", ephemeral=False)
        for user in step.users:
            self._deliver(partial(self.board.direct, user, dm), f"escalation step of alert #{alert.id} to <@{user}>")

    def _deliver(self, send: Callable[[], None], what: str) -> None:
        # The step is recorded (and shown on the card) whatever happens here; only a notification can be lost.
        self.policy.deliver(send, what, stop=self._stop)

    def run_forever(self, stop: threading.Event, *, every_s: float = 5.0) -> None:
        self._stop = stop
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("escalation pass failed; retrying")
            stop.wait(every_s)
