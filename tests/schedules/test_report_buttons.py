"""A scheduled report in Slack: its Done buttons, clicked through Bolt with signed requests, record who did
the step and redraw the posted report."""
from __future__ import annotations

import json
from datetime import UTC, datetime

from slack_bolt import BoltRequest

from bot.slack.bolt import build_bolt_app
from schedules.checklists import history
from schedules.scheduler import SlotJobs
from tests.slackreq import action_body, signed_headers
from tests.waiting import stored_card, wait_until

NINE = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def config(targets):
    return {"timezone": "Europe/Berlin", "channels": {"default": "C0ONCALL"},
            "services": [{"name": "backend", "health": {"url": f"{targets.url}/healthy"}}],
            "checklists": {"morning": {"schedule": "0 9 * * *", "title": "Morning health report", "checks": [
                {"check": "http", "service": "backend"},
                {"check": "manual", "text": "Review the Grafana error-rate dashboard"},
                {"check": "manual", "text": "Check last night's cost report"}]}}}


def test_done_records_the_person_and_the_posted_report_shows_it(make_runtime, fake_slack, work_pool,
                                                                health_targets):
    rt = make_runtime(config(health_targets), fake=fake_slack)
    SlotJobs(rt).run("checklist", "morning", NINE)
    [report] = [c.body for c in fake_slack.named("chat.postMessage") if "thread_ts" not in c.body]
    [run] = history(rt, "morning")
    channel, ts = stored_card(rt, "checklist", str(run.id))
    assert channel == "C0ONCALL" and run.posted_at is not None
    buttons = [e for b in report["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == ["Done: Review the Grafana error-rate dashboard",
                                                    "Done: Check last night's cost report"]
    app = build_bolt_app(rt, rt.board, work_pool=work_pool)

    def click(user, value, tag):
        body = action_body("checklist.done", value, user=user, channel="C0ONCALL", message_ts=ts,
                           response_url=f"{fake_slack.url}/response/{tag}")
        return app.dispatch(BoltRequest(body=body, headers=signed_headers(body)))

    assert click("U0BOB", buttons[0]["value"], "bob").status == 200
    [update] = fake_slack.wait_for("chat.update")
    assert (update.body["channel"], update.body["ts"]) == ("C0ONCALL", ts)
    shown = json.dumps(update.body["blocks"], ensure_ascii=False)
    assert "Review the Grafana error-rate dashboard — done by <@U0BOB> at 03:00 UTC" in shown
    assert "Done: Review the Grafana" not in shown and "Done: Check last night's cost report" in shown
    wait_until(lambda: history(rt, "morning")[0].items[1].done_by == "U0BOB", what="the step to be stored")

    assert click("U0CAROL", buttons[0]["value"], "carol").status == 200      # a second person, same step
    [answer] = fake_slack.wait_for("/response/carol")
    assert "Already done by <@U0BOB>" in answer.body["text"] and answer.body.get("response_type") == "ephemeral"
    assert history(rt, "morning")[0].items[1].done_by == "U0BOB"


def test_a_report_slack_refused_is_stored_and_history_says_it_was_not_posted(make_runtime, fake_slack, run_ops,
                                                                             health_targets):
    conf = config(health_targets)
    conf["checklists"]["morning"]["channel"] = "CPRIVATE1"          # the fake answers not_in_channel
    rt = make_runtime(conf, fake=fake_slack)
    SlotJobs(rt).run("checklist", "morning", NINE)
    [run] = history(rt, "morning")
    assert run.result == "ok" and run.posted_at is None
    shown = run_ops(rt, "checklist history morning").text
    assert "Mon 23 Nov 09:00 Europe/Berlin · schedule · 1 passed, 2 to do · _not posted to Slack" in shown
    assert len(fake_slack.named("chat.postMessage")) == 1            # a permanent error is not retried


def test_long_details_stay_inside_a_section_with_the_code_fence_closed():
    from schedules.cards import details
    from schedules.checklists import ItemRecord, RunRecord

    item = ItemRecord(0, "http", "backend", "fail", "x", None, None, "down · " + "y" * 5000)
    run = RunRecord(1, "morning", NINE, NINE, "schedule", None, "fail", "1 failed", None, (item,))
    [reply] = details(run)
    text = reply.blocks[1].text
    assert len(text) <= 3000 and text.endswith("```") and text.count("```") == 2
