"""/ops report weekly: the report for the week ending at the start of a day in the config's time zone."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from bot.reply import Reply, Section
from bot.storage.models import AuditEntry
from tests.schedules.test_weekly_report import MakeRuntime, nov, seed_incident, seed_week, text

RunOps = Callable[..., Reply]

USAGE = "Usage: `/ops report weekly [YYYY-MM-DD]`"


def body(reply: Reply) -> str:
    return "\n".join(b.text for b in reply.blocks if isinstance(b, Section))


def test_weekly_for_a_date_shows_the_numbers_in_the_channel(make_runtime: MakeRuntime, run_ops: RunOps) -> None:
    rt = make_runtime()
    seed_week(rt)      # the numbers below are worked out in tests/schedules/test_weekly_report.py
    reply = run_ops(rt, "report weekly 2026-11-23")
    assert (reply.outcome, reply.ephemeral) == ("ok", False)
    assert reply.text == ("Weekly incident report: Week of Mon 16 Nov – Sun 22 Nov: 7 incidents opened, 5 resolved, "
                          "MTTA 4m 36s (n=5), MTTR 20h 23m (n=5)")
    text = body(reply)
    assert "P1        2        2  4m 30s (n=2)     2h 9m (n=2)" in text
    assert "P2        2        0  10m (n=1)        —" in text
    assert "*#3* P2 search slow — :red_circle: still open after 5d 15h" in text
    assert "1. *backend* — 3 alerts, 10 firings" in text
    with rt.sessions() as s:
        audit = s.scalars(select(AuditEntry)).one()
    assert (audit.subcommand, audit.outcome) == ("report", "ok")


def test_without_a_date_the_week_ends_at_the_start_of_today_in_the_config_zone(make_runtime: MakeRuntime,
                                                                               run_ops: RunOps) -> None:
    # The clock says Mon 23 Nov 03:00 UTC, which in Los Angeles is still Sun 22 Nov 19:00: the week ends at
    # Sun 22 Nov 00:00 PST (08:00 UTC) and runs Sun 15 – Sat 21.
    rt = make_runtime({"timezone": "America/Los_Angeles"})
    seed_incident(rt, "P1", nov(22, 7, 59), title="Sat 23:59 PST")       # in
    seed_incident(rt, "P1", nov(22, 8), title="Sun 00:00 PST")           # the next week
    reply = run_ops(rt, "report weekly")
    assert "Week of Sun 15 Nov – Sat 21 Nov: 1 incident opened" in reply.text
    assert "Sat 23:59 PST" in body(reply) and "Sun 00:00 PST" not in body(reply)
    assert "week: 7 days to Sun 22 Nov 2026 00:00 America/Los_Angeles, exclusive" in text(reply.blocks[-1])


def test_a_week_with_nothing_in_it(make_runtime: MakeRuntime, run_ops: RunOps) -> None:
    reply = run_ops(make_runtime(), "report WEEKLY 2026-11-23")
    assert reply.outcome == "ok"
    assert reply.text.endswith("Week of Mon 16 Nov – Sun 22 Nov: 0 incidents opened, 0 resolved, MTTA —, MTTR —")
    assert "No alerts this week." in body(reply)


@pytest.mark.parametrize(("line", "expected"), [
    ("report", "Which report?"),
    ("report monthly", "There is no report `monthly`; there is `weekly`."),
    ("report weekyl", "Did you mean `weekly`?"),
    ("report weekly 2026-13-01", "`2026-13-01` is not a date; write it as YYYY-MM-DD"),
    ("report weekly 2026-02-30", "`2026-02-30` is not a date"),
    ("report weekly 20261123", "`20261123` is not a date"),
    ("report weekly yesterday", "`yesterday` is not a date"),
    ("report weekly 0001-01-01", "out of range"),
    ("report weekly 2026-11-23 2026-11-30", "at most one date"),
])
def test_bad_input_gets_the_usage(make_runtime: MakeRuntime, run_ops: RunOps, line: str, expected: str) -> None:
    rt = make_runtime()
    reply = run_ops(rt, line)
    assert (reply.outcome, reply.ephemeral) == ("usage", True)
    assert expected in reply.text and USAGE in reply.text
    with rt.sessions() as s:
        assert s.scalars(select(AuditEntry.outcome)).one() == "usage"


def test_help_lists_it(make_runtime: MakeRuntime, run_ops: RunOps) -> None:
    assert "`/ops report weekly [YYYY-MM-DD]`" in body(run_ops(make_runtime(), "help"))
