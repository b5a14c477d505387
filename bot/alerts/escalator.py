"""Takes due escalation steps of alerts and incidents and tells people: a mention in the card's thread and a
direct message to each person of the step. Also runs the alerts' time-driven housekeeping (auto-resolve, stale
acks) and fires the alerts of silent heartbeats (bot.alerts.heartbeats).

Each pass takes the alerts' due steps (bot.alerts.escalation), then the incidents' (bot.alerts.incident_escalation:
acknowledged or not, opened by an alert or by hand). Any number of replicas may run it: a step is taken once.
In the transaction that takes the step, each notification is queued as its own notice (bot.alerts.notices),
keyed `esc:<alert>:<step>:<target>:<when>` (`iesc:<incident>:…` for an incident's); the outbox delivers them,
once each, retrying each on its own, so a refused thread reply still lets every direct message go out, and a
failed one is tried again later. An incident's line goes under the card of its first alert that was posted,
else under the incident's own card, else to `channels.default`.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import business_time, incidents
from bot.alerts import escalation, housekeeping, incident_escalation, maintenance, notices, service
from bot.alerts.card import ref as alert_ref
from bot.alerts.heartbeats import Heartbeats
from bot.alerts.pipeline import BOT_ACTOR, enqueue
from bot.clock import Clock, humanize
from bot.config import OpsConfig
from bot.incidents.card import ref as incident_ref
from bot.metrics import Metrics
from bot.reply import escape
from bot.storage.db import one_pass, session_scope
from bot.storage.models import Alert, Incident

log = logging.getLogger(__name__)


class Escalator:
    def __init__(self, *, sessions: sessionmaker[Session], clock: Clock, config: OpsConfig,
                 wake: Callable[[], None] = lambda: None, metrics: Metrics | None = None) -> None:
        self.sessions, self.clock, self.config = sessions, clock, config
        self.metrics = metrics or Metrics()
        self.wake = wake                                  # the outbox: notices were queued
        self.heartbeats = Heartbeats(sessions, clock, config)
        self.calendar = maintenance.Calendar.of(config)

    def run_once(self) -> list[escalation.Escalation]:
        now = self.clock()
        with session_scope(self.sessions) as session:      # maintenance windows open and close on their own
            synced = maintenance.sync(session=session, calendar=self.calendar, settings=self.config.alerts, now=now)
        if synced:
            self.wake()
        with session_scope(self.sessions) as session:
            housekeeping.prune_receipts(session=session, now=now)
            housekeeping.auto_resolve(session=session, settings=self.config.alerts, now=now)
            for alert_id in housekeeping.refire_stale_acks(session=session, settings=self.config.alerts, now=now,
                                                                  zone=self.config.timezone):
                log.info("alert #%s: acknowledgement timed out; firing again", alert_id)
            paused = maintenance.covering(session=session, calendar=self.calendar, now=now)
            due = escalation.due(session=session, now=now, paused=paused.covers)
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
                _tell(session, step, service.record(row), now)
            taken.append(step)
        taken += self._incidents(now, paused.covers)
        if taken:
            self.wake()
        if self.heartbeats.fire_missed():                  # silent heartbeats fire their alerts
            self.wake()
        return taken

    def _incidents(self, now: datetime, paused: Callable[[str | None], bool]) -> list[escalation.Escalation]:
        """Take the incidents' due steps (after the alerts': an alert that just took a step has counted it);
        those of a service in a maintenance window wait, as its alerts do."""
        with session_scope(self.sessions) as session:
            due = incident_escalation.due(session=session, config=self.config, now=now, paused=paused)
        taken = []
        for incident_id, steps in due:
            with session_scope(self.sessions) as session:
                step = incident_escalation.take_step(session=session, config=self.config, incident_id=incident_id,
                                                     taken=steps, now=now)
                if step is None:
                    continue
                row = session.get(Incident, incident_id)
                assert row is not None
                policy = self.config.alerts.escalation[row.severity].steps[step.step - 1]
                incidents.add_event(session=session, incident_id=incident_id, at=now, kind="escalated",
                                    actor=BOT_ACTOR, note=f"step {step.step}/{step.of} ({policy.key} "
                                    f"{humanize(policy.wait)}): " + (", ".join(step.users) or "nobody"))
                _tell_incident(session, self.config, step, row, now)
            taken.append(step)
        return taken

    def run_forever(self, stop: threading.Event, *, every_s: float = 5.0) -> None:
        while not stop.is_set():
            ok = one_pass("escalation", self.run_once, failed=None, log=log) is not None
            self.metrics.escalation_pass(ok=ok, at=time.time())
            stop.wait(every_s)


def _tell(session: Session, step: escalation.Escalation, alert: service.AlertRecord, now: datetime) -> None:
    """Queue the step's notices: a mention under the alert's card, and a direct message to each person."""
    who = " ".join(f"<@{u}>" for u in step.users) or "nobody (no one resolved from the policy)"
    age = humanize(now - alert.first_seen)
    text = (f":rotating_light: {who} — *{alert.severity} {escape(alert.title[:100])}* has not been acknowledged "
            f"after {age} (escalation step {step.step} of {step.of}).")
    key = f"esc:{alert.id}:{step.step}:{{}}:{int(now.timestamp() * 1000)}"
    if alert.notified_at is not None:       # under its card; an alert folded into a storm summary has none
        notices.queue(session, key=key.format("thread"), text=text, now=now, channel=alert.channel,
                      thread=alert_ref(alert.id))
    for user in step.users:
        notices.queue(session, key=key.format(user), text=text + f" Alert #{alert.id} in <#{alert.channel}>.",
                      now=now, user=user)


def _tell_incident(session: Session, config: OpsConfig, step: escalation.Escalation, incident: Incident,
                   now: datetime) -> None:
    """Queue an incident step's notices: a mention under the card of its first posted alert (else under the
    incident's card, else in `channels.default`), and a direct message to each person."""
    assert step.incident_id is not None
    who = " ".join(f"<@{u}>" for u in step.users) or "nobody (no one resolved from the policy)"
    calendar = config.alerts.escalation[incident.severity].calendar(config.timezone)
    age = (humanize(now - incident.opened_at) if calendar is None
           else f"{humanize(business_time.elapsed(calendar, incident.opened_at, now))} of business hours")
    head = f"*{incident.severity} incident #{incident.id}: {escape(incident.title[:100])}*"
    if step.unresolved:
        owner = f", acknowledged by <@{incident.acknowledged_by}>" if incident.acknowledged_by else ""
        what, hint = f"is still unresolved after {age}{owner}", f"`/ops incident resolve {incident.id} [note]`"
    else:
        what, hint = f"has not been acknowledged after {age}", f"`/ops incident ack {incident.id}` to take it"
    text = f":rotating_light: {who} — {head} {what} (escalation step {step.step} of {step.of}). {hint}"
    alert = session.execute(select(Alert.id, Alert.channel).where(
        Alert.incident_id == incident.id, Alert.notified_at.is_not(None)).order_by(Alert.id).limit(1)).first()
    channel, thread = (alert.channel, alert_ref(alert.id)) if alert else (config.channels.default,
                                                                         incident_ref(incident.id))
    key = f"iesc:{incident.id}:{step.step}:{{}}:{int(now.timestamp() * 1000)}"
    notices.queue(session, key=key.format("thread"), text=text, now=now, channel=channel, thread=thread)
    for user in step.users:
        notices.queue(session, key=key.format(user), text=text, now=now, user=user)
