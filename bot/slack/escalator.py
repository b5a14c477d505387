"""Takes due escalation steps and tells people: a mention in the alert's thread and a direct message.

Runs beside the outbox in `opsbot serve`; any number of replicas may run it (see bot.alarms.escalation).
"""
from __future__ import annotations

import logging
import threading

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.alarms import escalation, housekeeping, service
from bot.alarms.pipeline import enqueue
from bot.clock import humanize
from bot.reply import escape
from bot.runtime import Runtime
from bot.storage.db import session_scope
from bot.storage.models import Alert, IncidentEvent

log = logging.getLogger(__name__)


class Escalator:
    def __init__(self, rt: Runtime, client: WebClient) -> None:
        self.rt, self.client = rt, client

    def run_once(self) -> list[escalation.Escalation]:
        now = self.rt.clock()
        with session_scope(self.rt.sessions) as session:
            housekeeping.auto_resolve(session=session, settings=self.rt.config.alerts, now=now)
            for alert_id in housekeeping.refire_stale_acks(session=session, settings=self.rt.config.alerts, now=now):
                log.info("alert #%s: acknowledgement timed out; firing again", alert_id)
        with session_scope(self.rt.sessions) as session:
            due = escalation.due(session=session, now=now)
        taken = []
        for alert_id, steps in due:
            with session_scope(self.rt.sessions) as session:
                step = escalation.take_step(session=session, config=self.rt.config, alert_id=alert_id, taken=steps,
                                            now=now)
                if step is None:
                    continue
                row = session.get(Alert, alert_id)
                assert row is not None
                enqueue(session, row, now)                   # the card shows who it went to
                if row.incident_id is not None:
                    session.add(IncidentEvent(incident_id=row.incident_id, at=now, kind="escalated", actor="opsbot",
                                              note=f"step {step.step}/{step.of}: " + ", ".join(step.users)))
            taken.append(step)
            self._tell(step)
        return taken

    def _tell(self, step: escalation.Escalation) -> None:
        with session_scope(self.rt.sessions) as session:
            alert = service.get(session=session, alert_id=step.alert_id)
        who = " ".join(f"<@{u}>" for u in step.users) or "nobody (no one resolved from the policy)"
        age = humanize(self.rt.clock() - alert.first_seen)
        text = (f":rotating_light: {who} — *{alert.severity} {escape(alert.title[:100])}* has not been acknowledged "
                f"after {age} (escalation step {step.step} of {step.of}).")
        try:
            if alert.slack_channel and alert.slack_ts:
                self.client.chat_postMessage(channel=alert.slack_channel, thread_ts=alert.slack_ts, text=text)
            for user in step.users:
                self.client.chat_postMessage(channel=user, text=text + f" Alert #{alert.id} in <#{alert.channel}>.")
        except (SlackClientError, OSError):
            # The step is recorded (and shown on the card); only the mention failed.
            log.warning("escalation step %s of alert #%s recorded, but Slack could not be told", step.step,
                        step.alert_id, exc_info=True)

    def run_forever(self, stop: threading.Event, *, every_s: float = 5.0) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("escalation pass failed; retrying")
            stop.wait(every_s)
