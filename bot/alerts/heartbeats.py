"""Heartbeats, a dead-man's switch: a job that must keep running POSTs a beat each time it runs; a silence
longer than its `within` fires an alert through the alert pipeline like any other (card, escalation, storms,
an incident for P1/P2), keyed `hb:<name>`, and the next beat resolves it.

State is one row per heartbeat (`heartbeats`): since when the bot watches it, its last beat, and two counters,
`beats` and `misses`. A heartbeat is due when `within` has passed since the later of its last beat (or, before
the first, since it was first watched) and the last time its silence fired. Firing is a compare-and-set on both
counters (`UPDATE … WHERE beats = :seen AND misses = :seen`) in the same transaction that stores the alert:
two replicas making the same pass fire it once, and a beat that lands meanwhile (it bumps `beats`) wins.
A silence that lasts another `within` fires again: the live alert counts ×2 (or a new one opens if someone
resolved the first by hand).

A beat updates the row and resolves the live `hb:<name>` alert in one transaction.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.model import AlertEvent
from bot.alerts.pipeline import store_in
from bot.clock import Clock, humanize
from bot.config import OpsConfig
from bot.config.checklists import HeartbeatCheck
from bot.config.heartbeats import HeartbeatConfig
from bot.errors import NotFoundError
from bot.storage.db import insert_ignoring_duplicates, session_scope
from bot.storage.models import Heartbeat
from integrations.base import AdapterError, Finding, Health

log = logging.getLogger(__name__)
SOURCE = "heartbeat"
NOTE_MAX = 200
CHECK_TIMEOUT_S = 5.0


def alert_key(name: str) -> str:
    return f"hb:{name}"


@dataclass(frozen=True, slots=True)
class BeatState:
    name: str
    since: datetime                      # first watched
    last_beat_at: datetime | None
    last_note: str | None
    beats: int
    missed_at: datetime | None           # when the current silence last fired
    misses: int

    def due(self, within: timedelta) -> datetime:
        """When this heartbeat's silence fires (again)."""
        start = self.last_beat_at or self.since
        return max(start, self.missed_at or start) + within


@dataclass(frozen=True, slots=True)
class Beat:
    name: str
    at: datetime
    next_due: datetime
    resolved: tuple[int, ...]            # the alert(s) this beat resolved


def span(delta: timedelta) -> str:
    """A duration as people write `within`: '45s', '20m', '26h', '27h 5m' (hours up to three days), '5d 2h'."""
    seconds = int(delta.total_seconds())
    if not 3600 <= seconds < 72 * 3600:
        return humanize(delta)
    hours, minutes = seconds // 3600, seconds % 3600 // 60
    return f"{hours}h {minutes}m" if minutes else f"{hours}h"


def judge(hb: HeartbeatConfig, state: BeatState | None, now: datetime, *, warn_pct: float) -> tuple[Health, str]:
    """The checklist verdict on a heartbeat: ok within `within`, degraded past `warn_pct` of it, down past it
    (or never beaten in a whole `within` of watching). A heartbeat not yet watched, or watched for less than
    `within` without a beat, is degraded: nothing says it works yet."""
    every = f"expected every {span(hb.within)}"
    if state is None:
        return Health.DEGRADED, f"{hb.name} has sent no beat yet ({every})"
    if state.last_beat_at is None:
        watched = now - state.since
        if watched >= hb.within:
            return Health.DOWN, f"{hb.name} has sent no beat in the {span(watched)} opsbot has watched it ({every})"
        return Health.DEGRADED, f"{hb.name} has sent no beat yet (watched for {span(watched)}; {every})"
    age = now - state.last_beat_at
    said = f"{hb.name} last beat {span(age)} ago ({every})"
    if age >= hb.within:
        return Health.DOWN, said
    if age > hb.within * (warn_pct / 100):
        return Health.DEGRADED, f"{said}: past {warn_pct:g}% of it"
    return Health.OK, said


def _state(row: Heartbeat) -> BeatState:
    return BeatState(row.name, row.since, row.last_beat_at, row.last_note, row.beats, row.missed_at, row.misses)


def _watch(session: Session, name: str, now: datetime) -> None:
    """Start watching `name` now, unless the bot already does (another replica may be inserting it too)."""
    insert_ignoring_duplicates(session, Heartbeat, {"name": name, "since": now, "beats": 0, "misses": 0},
                               key=["name"])


class Heartbeats:
    """Beats in (the HTTP receiver), missed beats out (the escalator's pass), ages for checklists."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, config: OpsConfig) -> None:
        self.sessions, self.clock, self.config = sessions, clock, config

    def configured(self, name: str) -> HeartbeatConfig:
        hb = self.config.heartbeat(name)
        if hb is None:
            raise NotFoundError(f"There is no heartbeat named {name[:63]!r}.")
        return hb

    def state(self, name: str) -> BeatState | None:
        """The heartbeat's beats so far; None before the bot first watched it."""
        with session_scope(self.sessions) as session:
            row = session.get(Heartbeat, name)
            return _state(row) if row is not None else None

    def beat(self, name: str, *, note: str | None = None) -> Beat:
        """Record a beat now and resolve the heartbeat's live alert, in one transaction."""
        hb = self.configured(name)
        with session_scope(self.sessions) as session:
            now = self.clock()
            _watch(session, name, now)
            session.execute(update(Heartbeat).where(Heartbeat.name == name).values(
                last_beat_at=now, last_note=note[:NOTE_MAX] if note else None, beats=Heartbeat.beats + 1,
                missed_at=None).execution_options(synchronize_session=False))
            done = store_in(session=session, config=self.config, now=now, events=[
                AlertEvent(source=SOURCE, dedup_key=alert_key(name), title=name, status="resolved")])
        if done.alert_ids:
            log.info("heartbeat %s beat again: alert #%s resolved", name, done.alert_ids[0])
        return Beat(name, now, now + hb.within, done.alert_ids)

    def fire_missed(self) -> list[int]:
        """Fire an alert for every heartbeat silent past its deadline, once across replicas (see the module's
        docstring); the ids of the alerts fired (or counted again)."""
        if not self.config.heartbeats:
            return []
        now = self.clock()
        states = self._watched(now)
        fired: list[int] = []
        for hb in self.config.heartbeats:
            state = states[hb.name]
            if now < state.due(hb.within):
                continue
            with session_scope(self.sessions) as session:
                claimed = session.execute(
                    update(Heartbeat).where(Heartbeat.name == hb.name, Heartbeat.beats == state.beats,
                                            Heartbeat.misses == state.misses)
                    .values(missed_at=now, misses=state.misses + 1).execution_options(synchronize_session=False))
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    continue                         # a beat, or another replica, came first
                done = store_in(session=session, config=self.config, now=now, events=[_missed(hb, state, now)])
            log.info("heartbeat %s: no beat within %s; alert #%s", hb.name, span(hb.within),
                     done.alert_ids[0] if done.alert_ids else "?")
            fired.extend(done.alert_ids)
        return fired

    def _watched(self, now: datetime) -> dict[str, BeatState]:
        """The state of every configured heartbeat, watching those the bot did not know yet from now."""
        names = [hb.name for hb in self.config.heartbeats]
        with session_scope(self.sessions) as session:
            rows = {r.name: r for r in session.scalars(select(Heartbeat).where(Heartbeat.name.in_(names)))}
            missing = [name for name in names if name not in rows]
            for name in missing:
                _watch(session, name, now)
            if missing:
                rows = {r.name: r for r in session.scalars(select(Heartbeat).where(Heartbeat.name.in_(names)))}
            return {name: _state(row) for name, row in rows.items()}


def _missed(hb: HeartbeatConfig, state: BeatState, now: datetime) -> AlertEvent:
    every = f"expected every {span(hb.within)}"
    if state.last_beat_at is None:
        reason = (f"{hb.name} has sent no beat since opsbot began watching it {span(now - state.since)} ago, at "
                  f"{state.since:%Y-%m-%d %H:%M} UTC ({every}). Its first beat resolves this alert.")
    else:
        reason = (f"{hb.name} last beat {span(now - state.last_beat_at)} ago, at {state.last_beat_at:%Y-%m-%d %H:%M}"
                  f" UTC ({every}). Its next beat resolves this alert.")
    return AlertEvent(source=SOURCE, dedup_key=alert_key(hb.name), title=f"No heartbeat from {hb.name} in "
                      f"{span(hb.within)}", status="firing", severity=hb.severity, service=hb.service, reason=reason,
                      details={"heartbeat": hb.name, "within": span(hb.within)}, channel=hb.route)


class HeartbeatSource:
    """StatusSource for a checklist's `heartbeat` check: the age of the last beat against `within`."""

    def __init__(self, heartbeats: Heartbeats, check: HeartbeatCheck) -> None:
        self.heartbeats, self.check_cfg = heartbeats, check

    @property
    def timeout_s(self) -> float:
        return CHECK_TIMEOUT_S

    def check(self) -> Sequence[Finding]:
        hb = self.heartbeats.configured(self.check_cfg.heartbeat)
        try:
            state = self.heartbeats.state(hb.name)
        except SQLAlchemyError as exc:
            raise AdapterError(f"the bot's own database could not be read ({type(exc).__name__})") from None
        health, summary = judge(hb, state, self.heartbeats.clock(), warn_pct=self.check_cfg.warn_pct)
        last = state.last_beat_at if state is not None else None
        details = {"last beat": f"{last:%Y-%m-%d %H:%M} UTC" if last else "never", "within": span(hb.within)}
        if state is not None and state.last_note:
            details["note"] = state.last_note
        return [Finding(SOURCE, hb.name, health, summary, details=details)]
