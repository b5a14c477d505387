"""The weekly incident report: incidents opened and resolved by severity, MTTA and MTTR, the longest-open
incidents and the noisiest services, for the 7 days ending at `end`.

`compute()` reads only the week's rows (plain SQL, the same on SQLite and PostgreSQL) and does the
arithmetic in Python; `render()` is a pure function of the numbers. The report describes the week as of
its end: an acknowledgement or resolution after `end` does not count, so a report asked for again later
shows the numbers the scheduled post showed.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from bot.clock import duration
from bot.incidents import time_to_acknowledge, time_to_resolve
from bot.reply import Context, Reply, Section, escape, truncate
from bot.runtime import Runtime
from bot.storage.db import session_scope
from bot.storage.models import Alert, Incident, Severity

WEEK = timedelta(days=7)
LONGEST = 3                 # incidents listed under "Longest open"
TOP_SERVICES = 5            # services listed under "Most alarming services"
TITLE_SHOWN = 80            # an incident title is cut to this in the report
DEFAULT_TITLE = "Weekly incident report"


@dataclass(frozen=True, slots=True, kw_only=True)
class SeverityStats:
    """One line of the table: a severity, or "All"."""

    label: str
    opened: int                     # opened in the week
    resolved: int                   # resolved in the week (opened whenever)
    mtta: timedelta | None          # None when mtta_n == 0
    mtta_n: int
    mttr: timedelta | None          # None when mttr_n == 0
    mttr_n: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LongIncident:
    id: int
    title: str
    severity: str
    service: str | None
    opened_at: datetime
    resolved_at: datetime | None    # None: still open at the end of the week
    duration: timedelta             # open for so long at the end of the week, or time to resolve


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceAlerts:
    service: str | None
    alerts: int                     # alerts first seen in the week
    firings: int                    # the sum of their `count`


@dataclass(frozen=True, slots=True, kw_only=True)
class WeeklyStats:
    start: datetime                 # inclusive, aware UTC
    end: datetime                   # exclusive, aware UTC
    as_of: datetime                 # `end`, or now when the week is not over yet
    by_severity: tuple[SeverityStats, ...]      # P1 … P4, always all four
    overall: SeverityStats
    longest: tuple[LongIncident, ...]           # longest first
    top_services: tuple[ServiceAlerts, ...]     # most alerts first
    alerts: int                     # every alert first seen in the week
    firings: int


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    title: str
    severity: str
    service: str | None
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None


_COLUMNS = (Incident.id, Incident.title, Incident.severity, Incident.service, Incident.opened_at,
            Incident.acknowledged_at, Incident.resolved_at)


def _week_start(end: datetime, zone: str) -> datetime:
    """Seven calendar days before `end` in `zone` (167 or 169 hours across a DST change), as UTC."""
    return (end.astimezone(ZoneInfo(zone)) - WEEK).astimezone(UTC)


def compute(rt: Runtime, *, end: datetime, zone: str = "UTC") -> WeeklyStats:
    """The numbers for the 7 days (calendar days in `zone`) ending at `end`, exclusive."""
    if end.tzinfo is None:
        raise ValueError("naive datetime: pass an aware `end`")
    end = end.astimezone(UTC)
    start, as_of = _week_start(end, zone), min(end, rt.clock())
    with session_scope(rt.sessions) as session:
        week = [_Row(*r) for r in session.execute(select(*_COLUMNS).where(
            or_(_within(Incident.opened_at, start, end), _within(Incident.resolved_at, start, end))))]
        still_open = [_Row(*r) for r in session.execute(
            select(*_COLUMNS)
            .where(Incident.opened_at < end, or_(Incident.resolved_at.is_(None), Incident.resolved_at >= end))
            .order_by(Incident.opened_at, Incident.id).limit(LONGEST))]
        alerts, firings = session.execute(
            select(func.count(Alert.id), func.coalesce(func.sum(Alert.count), 0))
            .where(_within(Alert.first_seen, start, end))).one()
        services = _top_services(session, start, end)
    return WeeklyStats(
        start=start, end=end, as_of=as_of,
        by_severity=tuple(_tally(s.value, [r for r in week if r.severity == s.value], start, end) for s in Severity),
        overall=_tally("All", week, start, end),
        longest=_longest(week, still_open, start=start, end=end, as_of=as_of),
        top_services=services, alerts=int(alerts), firings=int(firings),
    )


def _within(column: QueryableAttribute[Any], start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _top_services(session: Session, start: datetime, end: datetime) -> tuple[ServiceAlerts, ...]:
    alerts, firings = func.count(Alert.id), func.sum(Alert.count)
    # coalesce() in the ordering only: NULLs sort first on SQLite and last on PostgreSQL.
    rows = session.execute(
        select(Alert.service, alerts, firings).where(_within(Alert.first_seen, start, end))
        .group_by(Alert.service)
        .order_by(alerts.desc(), firings.desc(), func.coalesce(Alert.service, ""))
        .limit(TOP_SERVICES))
    return tuple(ServiceAlerts(service=s, alerts=int(a), firings=int(f or 0)) for s, a, f in rows)


def _tally(label: str, rows: Sequence[_Row], start: datetime, end: datetime) -> SeverityStats:
    opened = [r for r in rows if start <= r.opened_at < end]
    resolved = [r for r in rows if r.resolved_at is not None and start <= r.resolved_at < end]
    to_ack = [took for r in opened if r.acknowledged_at is not None and r.acknowledged_at < end
              and (took := time_to_acknowledge(r.opened_at, r.acknowledged_at)) is not None]
    to_resolve = [took for r in resolved if (took := time_to_resolve(r.opened_at, r.resolved_at)) is not None]
    return SeverityStats(label=label, opened=len(opened), resolved=len(resolved),
                         mtta=_mean(to_ack), mtta_n=len(to_ack), mttr=_mean(to_resolve), mttr_n=len(to_resolve))


def _mean(deltas: Sequence[timedelta]) -> timedelta | None:
    return sum(deltas, timedelta()) / len(deltas) if deltas else None


def _longest(week: Iterable[_Row], still_open: Iterable[_Row], *, start: datetime, end: datetime,
             as_of: datetime) -> tuple[LongIncident, ...]:
    """Still open at the end (open for how long) and resolved in the week (time to resolve), longest first."""
    candidates = {r.id: _long(r, r.resolved_at, r.resolved_at - r.opened_at) for r in week
                  if r.resolved_at is not None and start <= r.resolved_at < end}
    candidates |= {r.id: _long(r, None, as_of - r.opened_at) for r in still_open}
    return tuple(sorted(candidates.values(), key=lambda c: (-c.duration, c.id))[:LONGEST])


def _long(r: _Row, resolved_at: datetime | None, duration: timedelta) -> LongIncident:
    return LongIncident(id=r.id, title=r.title, severity=r.severity, service=r.service, opened_at=r.opened_at,
                        resolved_at=resolved_at, duration=duration)


# Rendering ------------------------------------------------------------------------------------------------


def mean_text(mean: timedelta | None, n: int) -> str:
    """'4m 30s (n=3)', or '—' when nothing was averaged."""
    return "—" if mean is None or n == 0 else f"{duration(mean)} (n={n})"


def render(stats: WeeklyStats, *, zone: str, title: str | None = None) -> Reply:
    """The report as one channel message: headline, table by severity, longest open, noisiest services, definitions."""
    tz = ZoneInfo(zone)
    title = title or DEFAULT_TITLE
    headline = _headline(stats, tz)
    blocks = (
        Section(f":bar_chart: *{escape(title)}*\n{headline}"),
        Section(f"```{_table(stats)}```"),
        Section(_longest_text(stats, tz)),
        Section(_services_text(stats)),
        Context(f"MTTA: mean opened→acknowledged of incidents opened in the week and acknowledged by its end · "
                f"MTTR: mean opened→resolved of incidents resolved in the week · n: incidents averaged · "
                f"week: 7 days to {_day(stats.end.astimezone(tz))} {stats.end.astimezone(tz):%Y %H:%M} "
                f"{zone}, exclusive"),
    )
    return Reply(text=f"{title}: {headline}", blocks=blocks, ephemeral=False)


def weekly_report(rt: Runtime, *, end: datetime, zone: str, title: str | None = None) -> Reply:
    """The report for the week ending at `end`, rendered for `zone`."""
    return render(compute(rt, end=end, zone=zone), zone=zone, title=title)


def _day(t: datetime) -> str:
    return f"{t:%a} {t.day} {t:%b}"


def _span(stats: WeeklyStats, tz: ZoneInfo) -> str:
    """'Mon 16 Nov – Sun 22 Nov' for whole days; with the times when the week does not start at midnight."""
    start, end = stats.start.astimezone(tz), stats.end.astimezone(tz)
    if start.time() == end.time() == datetime.min.time():
        return f"{_day(start)} – {_day(end - timedelta(days=1))}"
    return f"{_day(start)} {start:%H:%M} – {_day(end)} {end:%H:%M}"


def _headline(stats: WeeklyStats, tz: ZoneInfo) -> str:
    o = stats.overall
    so_far = f" (so far, as of {_day(stats.as_of.astimezone(tz))} {stats.as_of.astimezone(tz):%H:%M})" \
        if stats.as_of < stats.end else ""
    return (f"Week of {_span(stats, tz)}{so_far}: {_count(o.opened, 'incident')} opened, {o.resolved} resolved, "
            f"MTTA {mean_text(o.mtta, o.mtta_n)}, MTTR {mean_text(o.mttr, o.mttr_n)}")


def _table(stats: WeeklyStats) -> str:
    lines = [f"{'':4}{'Opened':>7}{'Resolved':>9}  {'MTTA':<17}MTTR"]
    for s in (*stats.by_severity, stats.overall):
        lines.append(f"{s.label:4}{s.opened:>7}{s.resolved:>9}  {mean_text(s.mtta, s.mtta_n):<17}"
                     f"{mean_text(s.mttr, s.mttr_n)}")
    return "\n".join(lines)


def _longest_text(stats: WeeklyStats, tz: ZoneInfo) -> str:
    if not stats.longest:
        return "*Longest open*\nNothing was open at the end of the week, and nothing was resolved in it."
    lines = []
    for i in stats.longest:
        service = f" · {escape(i.service)}" if i.service else ""
        what = (f":white_check_mark: resolved after {duration(i.duration)}" if i.resolved_at is not None else
                f":red_circle: still open after {duration(i.duration)}")
        opened = i.opened_at.astimezone(tz)
        lines.append(f"*#{i.id}* {escape(i.severity)} {escape(truncate(i.title, TITLE_SHOWN))}{service} — {what} "
                     f"(opened {_day(opened)} {opened:%H:%M})")
    return "*Longest open*\n" + "\n".join(lines)


def _services_text(stats: WeeklyStats) -> str:
    if not stats.top_services:
        return "*Most alarming services*\nNo alerts this week."
    head = f"*Most alarming services* ({_count(stats.alerts, 'alert')}, {_count(stats.firings, 'firing')} in the week)"
    lines = [f"{n}. {'*' + escape(s.service) + '*' if s.service else '_no service_'} — "
             f"{_count(s.alerts, 'alert')}, {_count(s.firings, 'firing')}"
             for n, s in enumerate(stats.top_services, start=1)]
    return head + "\n" + "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
