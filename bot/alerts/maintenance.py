"""Maintenance windows: while one covers a service, that service's alerts are stored and counted but their Slack
messages are held back, their escalation pauses, and checklists report its checks as in maintenance. When the
window ends, one summary goes to its channel and the cards of the alerts still live are posted.

The rules:

- **Open.** A stored window that is not closed, with `starts_at <= now < ends_at`; or an occurrence of a
  scheduled window (config `maintenance:`), computed when asked: `now` is in `[fire, fire + duration)` for a
  cron fire time in the window's zone, unless that occurrence is stored and closed (ended early). A duration is
  elapsed time: across a DST change the local end time moves, the length does not.
- **Stored once.** A scheduled occurrence is stored, announced and audited by the first pass that sees it open
  (`sync`, run by the escalator on every replica); its key makes another replica's insert do nothing. Closing
  (its time ran out, or `/ops maintenance end`) is a compare-and-set on `closed_at`: one closer queues the
  summary, as a keyed notice the outbox posts once.
- **Held.** The outbox asks `hold()` about the messages it is about to send: those of covered alerts are marked
  sent with the note `held: maintenance`, and the alert gets a hold row. On PostgreSQL the open windows are read
  `FOR SHARE`, so a window being closed waits for the pass that holds under it (and its summary counts that
  hold), and a pass that starts after the close no longer holds.
- **Released.** A hold no window covers any more is released (`release()`, after every close and on every
  pass, so a hold that raced a close is released a pass later): the alert's card is queued again (posted if the
  alert is live, redrawn if it had been posted), and when its next escalation step is due within one step's
  interval it is pushed to that interval after the release: people see the card before anyone is paged.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import audit
from bot.alerts import batch, notices
from bot.alerts.escalation import LIVE
from bot.alerts.windows import BOT, Calendar, Coverage, Window, end_target, end_text, start_text, what, when
from bot.clock import Clock
from bot.config import OpsConfig
from bot.config.alerts import AlertSettings
from bot.config.maintenance import ScheduledWindow
from bot.errors import AuditOutcome, ConflictError, NotFoundError
from bot.storage.db import session_scope
from bot.storage.models import Alert, AlertStatus, MaintenanceHold, MaintenanceWindow, OutboxMessage

__all__ = ["ALL", "Calendar", "Coverage", "Maintenance", "Window", "covering", "end", "hold", "release", "start",
           "sync"]
ALL = "*"                               # `services` of a window on every service
HELD = "held: maintenance"              # outbox.last_error of a message a window held back
AUDIT_SOURCE = "maintenance"            # audit_log.source of what the bot does on its own


def _record(row: MaintenanceWindow) -> Window:
    services = () if row.services == ALL else tuple(row.services.split())
    return Window(id=row.id, key=row.key, services=services, reason=row.reason, name=row.name, channel=row.channel,
                  started_by=row.started_by, starts_at=row.starts_at, ends_at=row.ends_at, closed_at=row.closed_at,
                  closed_by=row.closed_by, held=row.held, firing=row.firing)


def _open_rows(now: datetime) -> Any:
    return select(MaintenanceWindow).where(MaintenanceWindow.closed_at.is_(None), MaintenanceWindow.starts_at <= now,
                                           MaintenanceWindow.ends_at > now).order_by(MaintenanceWindow.id)


# --- asking -----------------------------------------------------------------------------------------------------

def covering(*, session: Session, calendar: Calendar, now: datetime, lock: bool = False) -> Coverage:
    """The windows open at `now`: stored ones (read FOR SHARE when `lock`) and scheduled occurrences not stored
    yet; an occurrence stored and closed (ended early) is not open."""
    stmt = _open_rows(now)
    windows = [_record(r) for r in session.scalars(stmt.with_for_update(read=True) if lock else stmt)]
    computed = calendar.open_at(now)
    if computed:
        stored = set(session.scalars(select(MaintenanceWindow.key).where(
            MaintenanceWindow.key.in_([w.key for w in computed]))))
        windows += [w for w in computed if w.key not in stored]
    return Coverage(tuple(windows))


def held_so_far(*, session: Session, window: Window) -> int:
    """Alerts held back since the window opened and not released yet (what its summary will count)."""
    stmt = (select(func.count(MaintenanceHold.alert_id)).join(Alert, Alert.id == MaintenanceHold.alert_id)
            .where(MaintenanceHold.released_at.is_(None), MaintenanceHold.held_at >= window.starts_at))
    if not window.everything:
        stmt = stmt.where(Alert.service.in_(window.services))
    return int(session.scalar(stmt) or 0)


# --- the outbox: holding messages back --------------------------------------------------------------------------

def hold(*, session: Session, calendar: Calendar, now: datetime,
         due: Sequence[tuple[int, int, str | None]]) -> set[int]:
    """Of the outbox rows about to be sent, `(row id, alert id, service)`, hold back those of alerts a window
    covers: marked sent (note `held: maintenance`) and the alert's hold recorded. The ids of the rows held."""
    if not due:
        return set()
    coverage = covering(session=session, calendar=calendar, now=now, lock=True)
    if not coverage:
        return set()
    wanted = {row_id: alert_id for row_id, alert_id, service in due if coverage.covers(service)}
    if not wanted:
        return set()
    held = set(session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(list(wanted)), OutboxMessage.sent_at.is_(None),
               (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now))
        .values(sent_at=now, claimed_until=None, pending_key=None, last_error=HELD)
        .returning(OutboxMessage.id).execution_options(synchronize_session=False)))
    _record_holds(session, {wanted[row_id] for row_id in held}, now)
    return held


def _record_holds(session: Session, alert_ids: set[int], now: datetime) -> None:
    if not alert_ids:
        return
    known = dict(session.execute(select(MaintenanceHold.alert_id, MaintenanceHold.released_at)
                                 .where(MaintenanceHold.alert_id.in_(sorted(alert_ids)))).all())
    again = sorted(a for a, released in known.items() if released is not None)
    if again:                              # held anew: counted from now, by the window holding it now
        session.execute(update(MaintenanceHold).where(MaintenanceHold.alert_id.in_(again),
                                                      MaintenanceHold.released_at.is_not(None))
                        .values(held_at=now, released_at=None).execution_options(synchronize_session=False))
    for alert_id in sorted(alert_ids - set(known)):
        _insert_ignoring(session, MaintenanceHold, {"alert_id": alert_id, "held_at": now}, key="alert_id",
                         returning=MaintenanceHold.alert_id)


def _insert_ignoring(session: Session, model: Any, values: dict[str, Any], *, key: str, returning: Any) -> Any:
    """INSERT … ON CONFLICT (key) DO NOTHING RETURNING `returning`: None when the row existed."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(model)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(model)
    return session.scalar(stmt.values(**values).on_conflict_do_nothing(index_elements=[key]).returning(returning))


# --- opening, closing, releasing --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Synced:
    opened: tuple[Window, ...]
    closed: tuple[Window, ...]
    released: tuple[int, ...]

    def __bool__(self) -> bool:
        return bool(self.opened or self.closed or self.released)


def sync(*, session: Session, calendar: Calendar, settings: AlertSettings, now: datetime) -> Synced:
    """One pass: store (and announce) scheduled occurrences that are open, close windows whose time ran out
    (and post their summaries), release holds no window covers any more."""
    opened = materialize(session=session, calendar=calendar, now=now)
    expired = session.scalars(select(MaintenanceWindow.id).where(
        MaintenanceWindow.closed_at.is_(None), MaintenanceWindow.ends_at <= now).order_by(MaintenanceWindow.id)).all()
    closed = [w for w in (_close(session, calendar, window_id, by=BOT, now=now) for window_id in expired) if w]
    released = release(session=session, calendar=calendar, settings=settings, now=now)
    return Synced(tuple(opened), tuple(closed), tuple(released))


def materialize(*, session: Session, calendar: Calendar, now: datetime) -> list[Window]:
    """Store the scheduled occurrences open at `now` that are not stored yet; announce and audit each one this
    call stored (another replica's concurrent insert of the same key stores nothing)."""
    computed = calendar.open_at(now)
    if not computed:
        return []
    stored = set(session.scalars(select(MaintenanceWindow.key).where(
        MaintenanceWindow.key.in_([w.key for w in computed]))))
    opened = []
    for window in computed:
        if window.key in stored:
            continue
        window_id = _insert_ignoring(session, MaintenanceWindow, _row(window), key="key",
                                     returning=MaintenanceWindow.id)
        if window_id is None:
            continue
        window = replace(window, id=int(window_id))
        _announce_start(session, calendar, window, now)
        session.add(_audit(window, now, f"maintenance start {window.label} (scheduled"
                                        f"{' ' + window.name if window.name else ''})"))
        opened.append(window)
    return opened


def _row(window: Window) -> dict[str, Any]:
    return {"key": window.key, "services": " ".join(window.services) or ALL, "reason": window.reason,
            "name": window.name, "channel": window.channel, "started_by": window.started_by,
            "starts_at": window.starts_at, "ends_at": window.ends_at}


def start(*, session: Session, calendar: Calendar, services: tuple[str, ...], duration: timedelta,
          reason: str | None, user: str, now: datetime) -> Window:
    """Open a window now on `services` (empty: all) for `duration`, and announce it. ConflictError when a
    window already covers one of them (or, for all, when one on all services is open)."""
    coverage = covering(session=session, calendar=calendar, now=now)
    clash = next((w for w in coverage.windows if w.everything), None) if not services else next(
        (w for s in services if (w := coverage.window(s)) is not None), None)
    if clash is not None:
        raise ConflictError(f"{what(clash)} is already open until {when(clash.ends_at, calendar.zone_of(clash))}."
                            f" End it first with `/ops maintenance end {end_target(clash, services)}`.")
    window = Window(id=None, key=f"adhoc:{uuid.uuid4().hex}", services=services, reason=reason, name=None,
                    channel=calendar.channel, started_by=user, starts_at=now, ends_at=now + duration)
    row = MaintenanceWindow(**_row(window))
    session.add(row)
    session.flush()
    window = replace(window, id=row.id)
    _announce_start(session, calendar, window, now)
    return window


def end(*, session: Session, calendar: Calendar, settings: AlertSettings, target: str, user: str,
        now: datetime) -> list[Window]:
    """End the open windows on `target` (a service, or ALL: every open window) now. NotFoundError when none is
    open; ConflictError when the service is covered only by a window on all services."""
    materialize(session=session, calendar=calendar, now=now)      # a scheduled occurrence is ended as a row
    rows = [_record(r) for r in session.scalars(_open_rows(now))]
    chosen = rows if target == ALL else [w for w in rows if target in w.services]
    if not chosen:
        if target == ALL:
            raise NotFoundError("Nothing is in maintenance. `/ops maintenance list` shows the windows.")
        everything = next((w for w in rows if w.everything), None)
        if everything is not None:
            raise ConflictError(f"`{target}` is in maintenance through {what(everything)}; end that with "
                                "`/ops maintenance end all`.")
        raise NotFoundError(f"`{target}` is not in maintenance. `/ops maintenance list` shows the windows.")
    closed = [w for w in (_close(session, calendar, w.id, by=user, now=now) for w in chosen if w.id) if w]
    release(session=session, calendar=calendar, settings=settings, now=now)
    return closed


def _close(session: Session, calendar: Calendar, window_id: int, *, by: str, now: datetime) -> Window | None:
    """Close the window once (compare-and-set), count what it held and queue its summary; None if it was
    closed already (by another replica, or by hand)."""
    changed = session.execute(update(MaintenanceWindow).where(
        MaintenanceWindow.id == window_id, MaintenanceWindow.closed_at.is_(None))
        .values(closed_at=now, closed_by=by).execution_options(synchronize_session=False))
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    row = session.get(MaintenanceWindow, window_id)
    assert row is not None
    session.refresh(row)
    if row.ends_at > now:
        row.ends_at = now                                   # ended early
    window = _record(row)
    stmt = (select(Alert.status).join(MaintenanceHold, MaintenanceHold.alert_id == Alert.id)
            .where(MaintenanceHold.held_at >= window.starts_at, MaintenanceHold.held_at <= now))
    if not window.everything:
        stmt = stmt.where(Alert.service.in_(window.services))
    statuses = list(session.scalars(stmt))
    row.held, row.firing = len(statuses), sum(1 for s in statuses if s in LIVE)
    window = replace(window, held=row.held, firing=row.firing, ends_at=row.ends_at)
    notices.queue(session, key=f"mw:{window.id}:end", text=end_text(window, by=by), now=now,
                  channel=window.channel)
    if by == BOT:
        session.add(_audit(window, now, f"maintenance end {window.label} (its time ran out)",
                           detail=f"{row.held} held, {row.firing} still live"))
    return window


def release(*, session: Session, calendar: Calendar, settings: AlertSettings, now: datetime) -> list[int]:
    """Release the holds no open window covers: queue each alert's card again (a live alert's, or one posted
    before), and give a live alert's escalation one step's interval from now. The alert ids released."""
    pending = session.execute(
        select(Alert.id, Alert.service, Alert.status, Alert.notified_at, Alert.channel, Alert.severity,
               Alert.escalation_step, Alert.next_escalation_at)
        .join(MaintenanceHold, MaintenanceHold.alert_id == Alert.id)
        .where(MaintenanceHold.released_at.is_(None)).order_by(Alert.id)).all()
    if not pending:
        return []
    coverage = covering(session=session, calendar=calendar, now=now)
    free = {p.id: p for p in pending if not coverage.covers(p.service)}
    if not free:
        return []
    released = sorted(session.scalars(
        update(MaintenanceHold).where(MaintenanceHold.alert_id.in_(sorted(free)), MaintenanceHold.released_at.is_(None))
        .values(released_at=now).returning(MaintenanceHold.alert_id).execution_options(synchronize_session=False)))
    batch.enqueue_many(session, {a: free[a].channel for a in released
                                 if free[a].status in LIVE or free[a].notified_at is not None}, now)
    for alert_id in released:
        p = free[alert_id]
        grace = _step_interval(settings, p.severity, p.escalation_step)
        if p.status == AlertStatus.FIRING and p.next_escalation_at is not None and grace is not None \
                and p.next_escalation_at < now + grace:
            session.execute(update(Alert).where(Alert.id == alert_id, Alert.escalation_step == p.escalation_step)
                            .values(next_escalation_at=now + grace).execution_options(synchronize_session=False))
    return released


def _step_interval(settings: AlertSettings, severity: str, taken: int) -> timedelta | None:
    """How long the policy waits before step `taken + 1` after the step before it (after firing, for step 1)."""
    policy = settings.escalation.get(severity)
    if policy is None or taken >= len(policy.steps):
        return None
    before = policy.steps[taken - 1].wait if taken else timedelta(0)
    return max(policy.steps[taken].wait - before, timedelta(0))


def _announce_start(session: Session, calendar: Calendar, window: Window, now: datetime) -> None:
    notices.queue(session, key=f"mw:{window.id}:start", text=start_text(window, calendar.zone_of(window)), now=now,
                  channel=window.channel)


def _audit(window: Window, now: datetime, command: str, *, detail: str | None = None) -> object:
    return audit.entry(at=now, user_id=BOT, channel_id=window.channel, source=AUDIT_SOURCE, command=command,
                       subcommand="maintenance", outcome=AuditOutcome.OK, detail=detail)


# --- the service commands call ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Overview:
    open: tuple[tuple[Window, int], ...]             # each open window, with the alerts it holds so far
    upcoming: tuple[tuple[ScheduledWindow, datetime], ...]
    recent: tuple[Window, ...]                       # the last windows closed


class Maintenance:
    """Maintenance windows for commands and checklists: each call is one transaction, at the clock's time."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, config: OpsConfig) -> None:
        self.sessions, self.clock, self.settings = sessions, clock, config.alerts
        self.calendar = Calendar.of(config)

    def start(self, *, services: Iterable[str], duration: timedelta, reason: str | None, user: str) -> Window:
        with session_scope(self.sessions) as session:
            return start(session=session, calendar=self.calendar, services=tuple(services), duration=duration,
                         reason=reason, user=user, now=self.clock())

    def end(self, *, target: str, user: str) -> list[Window]:
        with session_scope(self.sessions) as session:
            return end(session=session, calendar=self.calendar, settings=self.settings, target=target, user=user,
                       now=self.clock())

    def current(self) -> Coverage:
        with session_scope(self.sessions) as session:
            return covering(session=session, calendar=self.calendar, now=self.clock())

    def overview(self, *, recent: int = 3) -> Overview:
        now = self.clock()
        with session_scope(self.sessions) as session:
            windows = covering(session=session, calendar=self.calendar, now=now).windows
            open_ = tuple((w, held_so_far(session=session, window=w)) for w in windows)
            closed = session.scalars(select(MaintenanceWindow).where(MaintenanceWindow.closed_at.is_not(None))
                                     .order_by(MaintenanceWindow.closed_at.desc()).limit(recent)).all()
            past = tuple(_record(r) for r in closed)
        upcoming = tuple((spec, at) for spec in self.calendar.specs
                         if (at := self.calendar.next_start(spec, now)) is not None)
        return Overview(open_, tuple(sorted(upcoming, key=lambda u: u[1])), past)

    def when(self, at: datetime, window: Window | None = None, *, zone: str | None = None) -> str:
        """`at` for people: in `zone`, else the window's zone, else the config's."""
        return when(at, zone or (self.calendar.zone_of(window) if window else self.calendar.timezone))
