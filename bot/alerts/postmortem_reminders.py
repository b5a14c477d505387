"""Reminds the owner of a resolved P1 to write its postmortem, every `incidents.postmortems.remind_after`, until
one is written (or `stop_reminding_after` has passed since it was resolved).

The owner is who resolved it, else who opened it; when the bot did both (an alert opened it and resolved it),
the reminder goes under the incident's card (or into `channels.default` when it has none).

Any number of replicas may run it: the reminder for interval n (n = whole `remind_after`s since the incident was
resolved) is a notice keyed `pm:<incident>:<n>`, queued with INSERT … ON CONFLICT DO NOTHING, so two replicas
making the same pass queue it once; the outbox posts it once (bot.alerts.notices). Writing the postmortem drops a
reminder still waiting to be sent (bot.incidents.postmortem.record_written). A bot that was down for several
intervals sends one reminder when it is back, not one per interval it missed.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import incidents
from bot.alerts import notices
from bot.alerts.pipeline import BOT_ACTOR
from bot.clock import Clock, humanize
from bot.config import OpsConfig
from bot.incidents import POSTMORTEM_DUE, IncidentRecord, postmortem_due
from bot.incidents import card as incident_card
from bot.incidents.postmortem import REMINDER_KEY
from bot.reply import escape, truncate
from bot.storage.db import one_pass, session_scope
from bot.storage.models import Incident, IncidentStatus

log = logging.getLogger(__name__)
EVERY_S = 60.0


class PostmortemReminders:
    def __init__(self, *, sessions: sessionmaker[Session], clock: Clock, config: OpsConfig,
                 wake: Callable[[], None] = lambda: None) -> None:
        self.sessions, self.clock, self.config = sessions, clock, config
        self.wake = wake                                  # the outbox: notices were queued

    def run_once(self) -> list[str]:
        """Queue the reminders now due; the keys of those queued (a key queued before is queued again as a
        no-op, and listed too: the caller cannot tell, and need not)."""
        settings = self.config.incidents.postmortems
        if settings.remind_after is None:
            return []
        now = self.clock()
        keys = []
        with session_scope(self.sessions) as session:
            ids = session.scalars(select(Incident.id).where(
                Incident.status == IncidentStatus.RESOLVED.value, Incident.severity.in_(POSTMORTEM_DUE),
                Incident.resolved_at <= now - settings.remind_after,
                Incident.resolved_at > now - settings.stop_reminding_after).order_by(Incident.id)).all()
            for incident_id in ids:
                record = incidents.get(session=session, incident_id=incident_id)
                if not postmortem_due(record) or record.resolved_at is None:
                    continue
                interval = (now - record.resolved_at) // settings.remind_after
                keys.append(self._remind(session, record, interval, now))
        if keys:
            self.wake()
        return keys

    def _remind(self, session: Session, r: IncidentRecord, interval: int, now: datetime) -> str:
        key = REMINDER_KEY.format(incident=r.id) + str(interval)
        assert r.resolved_at is not None
        owner = next((u for u in (r.resolved_by, r.opened_by) if u and u != BOT_ACTOR), None)
        text = (f":memo: Incident #{r.id} ({r.severity} {truncate(escape(r.title), 100)}) was resolved "
                f"{humanize(now - r.resolved_at)} ago and has no postmortem yet. Write it with "
                f"`/ops incident postmortem {r.id}`, or the *Write postmortem* button on its card.")
        if owner is not None:
            notices.queue(session, key=key, text=f"<@{owner}> {text}", now=now, user=owner)
        else:
            notices.queue(session, key=key, text=text, now=now, channel=self.config.channels.default,
                          thread=incident_card.ref(r.id))
        return key

    def run_forever(self, stop: threading.Event, *, every_s: float = EVERY_S) -> None:
        while not stop.is_set():
            one_pass("postmortem reminder", self.run_once, failed=None, log=log)
            stop.wait(every_s)
