"""Checklists run the real checks (local HTTP endpoints here), store every run, and report clearly."""
from datetime import UTC, datetime

import pytest

from bot.config import ConfigError, parse_config
from bot.reply import Actions, CardKind, CardRef
from commands.cards import current
from schedules.checklists import get_run, run_checklist


def config(targets):
    return {"timezone": "Europe/Berlin",
            "services": [{"name": "backend", "health": {"url": f"{targets.url}/healthy"}},
                         {"name": "payments", "health": {"url": f"{targets.url}/degraded"}},
                         {"name": "search", "health": {"url": f"{targets.url}/unhealthy"}}],
            "checklists": {"morning": {"schedule": "0 9 * * *", "title": "Morning health report", "checks": [
                {"check": "http", "service": "backend"}, {"check": "http", "service": "payments"},
                {"check": "http", "service": "search"},
                {"check": "manual", "text": "Review the Grafana error-rate dashboard"}]}}}


def test_a_run_reports_failures_first_and_stores_every_item(make_runtime, run_ops, health_targets, clock):
    rt = make_runtime(config(health_targets))
    reply = run_ops(rt, "checklist run morning", user="U0ALICE")
    head = reply.blocks[0].text
    assert "*Morning health report* · Mon 23 Nov 04:00 Europe/Berlin" in head
    assert "1 failed, 1 warning, 1 passed, 1 to do" in head
    problems = reply.blocks[1].text.splitlines()
    assert problems[0].startswith(":red_circle: *search* — http: HTTP 503") and "payments" in problems[1]
    assert "1 passed: backend" in reply.blocks[2].text
    [buttons] = [b for b in reply.blocks if isinstance(b, Actions)]
    assert [b.label for b in buttons.buttons] == ["Done: Review the Grafana error-rate dashboard"]
    run = get_run(rt, int(reply.card.key))
    assert (run.result, run.trigger, run.requested_by) == ("fail", "manual", "U0ALICE")
    assert [i.result for i in run.items] == ["ok", "warn", "fail", "todo"]


def test_done_records_the_person_and_the_report_shows_it(make_runtime, run_ops, health_targets, clock):
    rt = make_runtime(config(health_targets))
    run_id = run_ops(rt, "checklist run morning").card.key
    done = run_ops(rt, f"checklist done {run_id}.3", user="U0BOB")
    assert done.redraw[0].ref == CardRef(CardKind.CHECKLIST, run_id)
    again = run_ops(rt, f"checklist done {run_id}.3", user="U0CAROL")
    assert again.outcome == "conflict" and "<@U0BOB>" in again.text
    report = run_ops(rt, "checklist history morning")
    assert "manual by <@U0ALICE>" in report.text
    card = "\n".join(getattr(b, "text", "") for b in current(rt, CardRef(CardKind.CHECKLIST, run_id)).reply.blocks)
    assert "Review the Grafana error-rate dashboard — done by <@U0BOB> at 03:00 UTC" in card


def test_a_scheduled_slot_runs_once(make_runtime, health_targets):
    rt = make_runtime(config(health_targets))
    slot = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert run_checklist(rt, "morning", scheduled_for=slot, trigger="schedule") is not None
    assert run_checklist(rt, "morning", scheduled_for=slot, trigger="schedule") is None


def test_list_shows_the_next_run_in_the_zone(make_runtime, run_ops, health_targets, clock):
    clock.now = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)         # the day before DST begins in Berlin
    rt = make_runtime(config(health_targets))
    text = run_ops(rt, "checklist list").text
    assert "*morning* — 4 check(s), `0 9 * * *` (Europe/Berlin), next Sun 29 Mar 09:00" in text


@pytest.mark.parametrize("text, expected", [
    ("checklist", "What should I do"), ("checklist run", "Name one checklist"),
    ("checklist run evening", "There is no checklist `evening`"), ("checklist done x", "The Done button knows"),
])
def test_bad_checklist_input(make_runtime, run_ops, health_targets, text, expected):
    reply = run_ops(make_runtime(config(health_targets)), text)
    assert reply.ephemeral and expected in reply.text


def test_config_errors_name_the_check():
    with pytest.raises(ConfigError, match=r"checklists.m.checks\[0\]: no service named 'nope'"):
        parse_config({"checklists": {"m": {"checks": [{"check": "http", "service": "nope"}]}}})
    with pytest.raises(ConfigError, match="checklists.m.schedule: not a cron expression"):
        parse_config({"checklists": {"m": {"schedule": "0 25 * * *", "checks": [{"check": "manual", "text": "x"}]}}})
