"""The weekly incident report against rows seeded with known times, on SQLite and PostgreSQL: every mean is
checked against the arithmetic written out here, and every boundary (start inclusive, end exclusive, an
acknowledgement after the week) against a row placed on it."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest

from bot.reply import Block, Context, Section
from bot.runtime import Runtime
from bot.storage.db import session_scope
from bot.storage.models import Alert, Incident
from schedules.weekly_report import compute, duration, render, weekly_report

MakeRuntime = Callable[..., Runtime]


class StepClock(Protocol):       # tests.conftest.StepClock, as far as these tests use it
    now: datetime


END = datetime(2026, 11, 23, tzinfo=UTC)     # Mon 23 Nov 00:00 UTC: the week is Mon 16 Nov – Sun 22 Nov


def nov(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def text(block: Block) -> str:
    assert isinstance(block, Section | Context), block
    return block.text


def seed_incident(rt: Runtime, severity: str, opened: datetime, *, acked: datetime | None = None,
                  resolved: datetime | None = None, title: str = "something broke", service: str | None = None) -> int:
    status = "resolved" if resolved else "acknowledged" if acked else "open"
    with session_scope(rt.sessions) as s:
        row = Incident(title=title, severity=severity, status=status, service=service, opened_at=opened,
                       opened_by="U0ALICE", acknowledged_at=acked, acknowledged_by="U0BOB" if acked else None,
                       resolved_at=resolved, resolved_by="U0BOB" if resolved else None)
        s.add(row)
        s.flush()
        return row.id


def seed_alert(rt: Runtime, service: str | None, first_seen: datetime, count: int = 1) -> None:
    with session_scope(rt.sessions) as s:
        s.add(Alert(source="webhook", dedup_key=f"{service}-{first_seen.isoformat()}-{count}", active_key=None,
                    title="high error rate", severity="P2", status="resolved", service=service, channel="C0ONCALL",
                    count=count, first_seen=first_seen, last_seen=first_seen))


def seed_week(rt: Runtime) -> None:
    """The week used by these tests and the command's. Times to acknowledge (TTA) and resolve (TTR):"""
    # P1: both opened and resolved in the week.
    seed_incident(rt, "P1", nov(16, 10), acked=nov(16, 10, 2), resolved=nov(16, 10, 48),       # #1 TTA 2m, TTR 48m
                  title="api down", service="backend")
    seed_incident(rt, "P1", nov(18, 22), acked=nov(18, 22, 7), resolved=nov(19, 1, 30),        # #2 TTA 7m, TTR 3h30m
                  title="checkout 5xx", service="checkout")
    # P2: one acknowledged and still open; one never acknowledged (not in MTTA).
    seed_incident(rt, "P2", nov(17, 9), acked=nov(17, 9, 10), title="search slow")             # #3 TTA 10m
    seed_incident(rt, "P2", nov(20, 12), title="queue backlog", service="workers")             # #4 no ack
    # P3: #5 opened the week before, resolved in this one: in MTTR, not in "opened" or MTTA.
    seed_incident(rt, "P3", nov(12, 8), acked=nov(12, 8, 30), resolved=nov(16, 8))             # #5 TTR 96h
    seed_incident(rt, "P3", nov(21, 14), acked=nov(21, 14, 3), resolved=nov(21, 15, 4))        # #6 TTA 3m, TTR 64m
    # P4: #7 opened a second before the end, acknowledged after it (not in MTTA: the report is as of the end);
    # #8 opened exactly at the start (inclusive); #9 exactly at the end (exclusive); #10 entirely the week before.
    seed_incident(rt, "P4", nov(22, 23, 59, 59), acked=nov(23, 0, 5))                          # #7 opened, no TTA
    seed_incident(rt, "P4", nov(16), acked=nov(16, 0, 1), resolved=nov(16, 0, 31))             # #8 TTA 1m, TTR 31m
    seed_incident(rt, "P4", END, acked=END + timedelta(minutes=1))                             # #9 not this week
    seed_incident(rt, "P4", nov(15, 22), acked=nov(15, 22, 1), resolved=nov(15, 23, 59, 59))  # #10 not this week
    # Alerts first seen in the week: backend 3 alerts (5+1+4 = 10 firings), search 2 (20+1 = 21), no service 1 (2).
    for count in (5, 1, 4):
        seed_alert(rt, "backend", nov(17, 3), count)
    seed_alert(rt, "search", nov(16), 20)                         # exactly at the start: in
    seed_alert(rt, "search", nov(22, 23, 59, 59), 1)
    seed_alert(rt, None, nov(19, 12), 2)
    seed_alert(rt, "backend", nov(15, 23, 59, 59), 100)           # the week before: out
    seed_alert(rt, "checkout", END, 50)                           # at the end: out


def test_counts_and_means_per_severity_and_overall(make_runtime: MakeRuntime) -> None:
    rt = make_runtime()
    seed_week(rt)
    stats = compute(rt, end=END)
    p1, p2, p3, p4 = stats.by_severity
    assert [s.label for s in stats.by_severity] == ["P1", "P2", "P3", "P4"]
    # P1: opened #1 #2, resolved #1 #2; MTTA (2m + 7m) / 2 = 4m 30s; MTTR (48m + 210m) / 2 = 129m.
    assert (p1.opened, p1.resolved) == (2, 2)
    assert (p1.mtta, p1.mtta_n) == (timedelta(minutes=4, seconds=30), 2)
    assert (p1.mttr, p1.mttr_n) == (timedelta(minutes=129), 2)
    # P2: opened #3 #4, nothing resolved; MTTA over #3 only (#4 never acknowledged) = 10m.
    assert (p2.opened, p2.resolved, p2.mtta, p2.mtta_n, p2.mttr, p2.mttr_n) == (
        2, 0, timedelta(minutes=10), 1, None, 0)
    # P3: opened #6 only; resolved #5 and #6; MTTA 3m; MTTR (96h + 64m) / 2 = (5760m + 64m) / 2 = 2912m.
    assert (p3.opened, p3.resolved, p3.mtta, p3.mtta_n) == (1, 2, timedelta(minutes=3), 1)
    assert (p3.mttr, p3.mttr_n) == (timedelta(minutes=2912), 2)
    # P4: opened #7 #8 (not #9 at the end, not #10 before); MTTA over #8 only (#7's ack is after the end) = 1m;
    # resolved #8 = 31m.
    assert (p4.opened, p4.resolved, p4.mtta, p4.mtta_n, p4.mttr, p4.mttr_n) == (
        2, 1, timedelta(minutes=1), 1, timedelta(minutes=31), 1)
    # All: opened 2+2+1+2 = 7, resolved 2+0+2+1 = 5;
    # MTTA (2 + 7 + 10 + 3 + 1) / 5 = 23m / 5 = 4m 36s;
    # MTTR (48 + 210 + 5760 + 64 + 31) / 5 = 6113m / 5 = 1222.6m = 20h 22m 36s.
    o = stats.overall
    assert (o.opened, o.resolved) == (7, 5)
    assert (o.mtta, o.mtta_n) == (timedelta(minutes=4, seconds=36), 5)
    assert (o.mttr, o.mttr_n) == (timedelta(hours=20, minutes=22, seconds=36), 5)


def test_longest_open_mixes_still_open_and_slowest_resolved(make_runtime: MakeRuntime) -> None:
    rt = make_runtime()
    seed_week(rt)
    longest = compute(rt, end=END).longest
    # Still open at the end: #3 since Tue 09:00 (5d 15h), #4 since Fri 12:00 (2d 12h), #7 for 1s;
    # resolved in the week: #5 after 96h = 4d, #2 after 3h 30m, … Longest three: #3, #5, #4.
    assert [(i.id, i.duration, i.resolved_at is None) for i in longest] == [
        (3, timedelta(days=5, hours=15), True), (5, timedelta(days=4), False), (4, timedelta(days=2, hours=12), True)]


def test_an_incident_resolved_after_the_end_is_still_open_in_that_week(make_runtime: MakeRuntime) -> None:
    rt = make_runtime()
    seed_incident(rt, "P1", nov(22, 20), acked=nov(22, 20, 5), resolved=nov(23, 2))   # resolved 2h after the end
    stats = compute(rt, end=END)
    assert (stats.overall.opened, stats.overall.resolved, stats.overall.mttr) == (1, 0, None)
    assert stats.overall.mtta == timedelta(minutes=5)
    assert [(i.id, i.resolved_at, i.duration) for i in stats.longest] == [(1, None, timedelta(hours=4))]


def test_most_alarming_services_by_alert_count_with_firings(make_runtime: MakeRuntime) -> None:
    rt = make_runtime()
    seed_week(rt)
    stats = compute(rt, end=END)
    assert [(s.service, s.alerts, s.firings) for s in stats.top_services] == [
        ("backend", 3, 10), ("search", 2, 21), (None, 1, 2)]
    assert (stats.alerts, stats.firings) == (6, 33)      # 3+2+1 alerts; 10+21+2 firings


def test_the_week_is_seven_calendar_days_in_the_zone_across_dst(make_runtime: MakeRuntime) -> None:
    rt = make_runtime()
    # Berlin, week ending Mon 30 Mar 2026 00:00 CEST (29 Mar 22:00 UTC); it starts Mon 23 Mar 00:00 CET
    # (22 Mar 23:00 UTC): 167 hours, not 168.
    seed_incident(rt, "P2", datetime(2026, 3, 22, 22, 30, tzinfo=UTC))   # Sun 23:30 CET: the week before
    seed_incident(rt, "P2", datetime(2026, 3, 22, 23, 30, tzinfo=UTC))   # Mon 00:30 CET: in
    seed_incident(rt, "P2", datetime(2026, 3, 29, 21, 59, tzinfo=UTC))   # Sun 23:59 CEST: in
    end = datetime(2026, 3, 29, 22, tzinfo=UTC)
    stats = compute(rt, end=end, zone="Europe/Berlin")
    assert stats.start == datetime(2026, 3, 22, 23, tzinfo=UTC) and stats.overall.opened == 2
    assert "Week of Mon 23 Mar – Sun 29 Mar: 2 incidents opened" in render(stats, zone="Europe/Berlin").text


def test_an_empty_week_renders_dashes_not_zeros(make_runtime: MakeRuntime) -> None:
    stats = compute(make_runtime(), end=END)
    assert (stats.overall.opened, stats.overall.mtta, stats.overall.mtta_n, stats.longest, stats.alerts) == (
        0, None, 0, (), 0)
    reply = render(stats, zone="UTC")
    assert reply.text == ("Weekly incident report: Week of Mon 16 Nov – Sun 22 Nov: 0 incidents opened, 0 resolved, "
                          "MTTA —, MTTR —")
    body = "\n".join(text(b) for b in reply.blocks)
    assert "Nothing was open at the end of the week" in body and "No alerts this week." in body


def test_rendered_report_reads_headline_table_longest_services_definitions(make_runtime: MakeRuntime) -> None:
    rt = make_runtime()
    seed_week(rt)
    reply = weekly_report(rt, end=END, zone="UTC", title="Weekly incidents <!channel>")
    assert not reply.ephemeral
    head, table, longest, services, footer = (text(b) for b in reply.blocks)
    # Above an hour a mean is shown to the nearest minute: MTTR 20h 22m 36s reads 20h 23m, P3's 2912m = 2d 0h 32m
    # reads 2d (days and hours only, as bot.clock.humanize shows them).
    assert head.splitlines() == [
        ":bar_chart: *Weekly incidents &lt;!channel&gt;*",
        "Week of Mon 16 Nov – Sun 22 Nov: 7 incidents opened, 5 resolved, MTTA 4m 36s (n=5), MTTR 20h 23m (n=5)"]
    assert table.splitlines() == [
        "```     Opened Resolved  MTTA             MTTR",
        "P1        2        2  4m 30s (n=2)     2h 9m (n=2)",
        "P2        2        0  10m (n=1)        —",
        "P3        1        2  3m (n=1)         2d (n=2)",
        "P4        2        1  1m (n=1)         31m (n=1)",
        "All       7        5  4m 36s (n=5)     20h 23m (n=5)```"]
    assert longest.splitlines() == [
        "*Longest open*",
        "*#3* P2 search slow — :red_circle: still open after 5d 15h (opened Tue 17 Nov 09:00)",
        "*#5* P3 something broke — :white_check_mark: resolved after 4d (opened Thu 12 Nov 08:00)",
        "*#4* P2 queue backlog · workers — :red_circle: still open after 2d 12h (opened Fri 20 Nov 12:00)"]
    assert services.splitlines() == [
        "*Most alarming services* (6 alerts, 33 firings in the week)",
        "1. *backend* — 3 alerts, 10 firings", "2. *search* — 2 alerts, 21 firings",
        "3. _no service_ — 1 alert, 2 firings"]
    assert isinstance(reply.blocks[-1], Context) and "MTTA: mean opened→acknowledged" in footer
    assert "week: 7 days to Mon 23 Nov 2026 00:00 UTC, exclusive" in footer


def test_title_days_and_times_are_in_the_report_zone(make_runtime: MakeRuntime, clock: StepClock) -> None:
    rt = make_runtime()
    clock.now = nov(23, 14, 5)
    # New York, Monday 09:00 EST (14:00 UTC): the week runs Mon 09:00 to Mon 09:00 local.
    seed_incident(rt, "P1", nov(16, 13, 59), title="just before")       # 08:59 EST: before the week
    seed_incident(rt, "P1", nov(16, 14), title="first minute")           # 09:00 EST: in
    reply = weekly_report(rt, end=nov(23, 14), zone="America/New_York")
    assert "Week of Mon 16 Nov 09:00 – Mon 23 Nov 09:00: 1 incident opened" in reply.text
    assert "(opened Mon 16 Nov 09:00)" in text(reply.blocks[2])


def test_a_week_not_over_yet_says_so_and_ages_are_until_now(make_runtime: MakeRuntime, clock: StepClock) -> None:
    rt = make_runtime()
    clock.now = nov(20, 12)                           # Fri 20 Nov 12:00; the week ends Mon 23 Nov
    seed_incident(rt, "P3", nov(19, 12))
    stats = compute(rt, end=END)
    assert stats.as_of == clock.now and stats.longest[0].duration == timedelta(days=1)
    assert "Week of Mon 16 Nov – Sun 22 Nov (so far, as of Fri 20 Nov 12:00): 1 incident opened" in render(
        stats, zone="UTC").text


def test_long_titles_and_many_rows_stay_within_block_kit_limits(make_runtime: MakeRuntime) -> None:
    rt = make_runtime()
    for n in range(30):
        seed_incident(rt, "P1", nov(16, 1, n), title="t" * 200, service=f"service-{n:02d}-" + "s" * 50)
        seed_alert(rt, f"service-{n:02d}-" + "s" * 50, nov(17, 1, n), count=n + 1)
    reply = weekly_report(rt, end=END, zone="UTC", title="x" * 500)
    assert len(reply.blocks) <= 50
    assert all(len(text(b)) <= 3000 for b in reply.blocks)
    assert "t" * 79 + "…" in text(reply.blocks[2]) and "t" * 81 not in text(reply.blocks[2])


@pytest.mark.parametrize(("delta", "shown"), [
    (timedelta(seconds=42), "42s"), (timedelta(minutes=4, seconds=30), "4m 30s"), (timedelta(minutes=7), "7m"),
    (timedelta(minutes=59, seconds=59.6), "1h"), (timedelta(hours=1, minutes=20, seconds=31), "1h 21m"),
    (timedelta(days=2, hours=4, minutes=10), "2d 4h"), (timedelta(0), "0s")])
def test_durations_keep_seconds_under_an_hour(delta: timedelta, shown: str) -> None:
    assert duration(delta) == shown


def test_a_naive_end_is_refused(make_runtime: MakeRuntime) -> None:
    with pytest.raises(ValueError, match="naive"):
        compute(make_runtime(), end=datetime(2026, 11, 23))
