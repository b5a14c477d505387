"""The alarm card's buttons through Bolt: Acknowledge updates the card and the incident; roles apply."""
import json

import pytest
from slack_bolt import BoltRequest
from sqlalchemy import select

from bot.alerts.model import AlertEvent
from bot.slack.bolt import build_bolt_app
from bot.storage.models import Alert, Incident
from tests.alerts.workers import outbox
from tests.slackreq import action_body, signed_headers
from tests.waiting import wait_until

CONFIG = {"channels": {"alerts": "C0ALERTS"},
          "permissions": {"roles": {"oncall": ["U0ALICE", "U0BOB"]}, "commands": {"ack": ["oncall"]}}}


@pytest.fixture
def alarm(make_runtime, fake_slack, work_pool):
    rt = make_runtime(CONFIG, fake=fake_slack, real_clock=True)
    rt.alerts.ingest([AlertEvent(source="alertmanager", dedup_key="am:1", title="API 5xx", status="firing",
                           severity="critical", service="backend")])
    box = outbox(rt)
    wait_until(lambda: box.run_once() == 0 and box.pending() == 0, what="the card to be posted")
    app = build_bolt_app(rt, rt.board, work_pool=work_pool)

    def click(action_id, user, tag):
        body = action_body(action_id, "1", user=user, channel="C0ALERTS", message_ts="1700000000.000001",
                           response_url=f"{fake_slack.url}/response/{tag}")
        return app.dispatch(BoltRequest(body=body, headers=signed_headers(body)))

    return rt, click


def test_acknowledge_updates_the_card_and_the_incident_and_a_second_click_says_who(alarm, fake_slack):
    rt, click = alarm
    assert click("alert.ack", "U0ALICE", "a1").status == 200
    update = fake_slack.wait_for("chat.update")[0].body
    text = json.dumps(update["blocks"], ensure_ascii=False)
    assert update["ts"] == "1700000000.000001" and "ACKNOWLEDGED" in text and "acknowledged by <@U0ALICE>" in text
    click("alert.ack", "U0BOB", "a2")
    notice = fake_slack.wait_for(lambda c: c.name == "/response/a2")[0].body
    assert notice["response_type"] == "ephemeral" and "already acknowledged by <@U0ALICE>" in notice["text"]
    with rt.sessions() as s:
        assert s.scalars(select(Incident)).one().acknowledged_by == "U0ALICE"


def test_acknowledge_needs_the_role(alarm, fake_slack):
    rt, click = alarm
    click("alert.ack", "U0MALLORY", "no")
    notice = fake_slack.wait_for(lambda c: c.name == "/response/no")[0].body
    assert "needs the role `oncall`" in notice["text"]
    with rt.sessions() as s:
        assert s.scalars(select(Alert)).one().status == "firing"


def test_silence_and_resolve_buttons(alarm, fake_slack):
    rt, click = alarm
    click("alert.silence", "U0ALICE", "s")
    wait_until(lambda: any("silenced until" in json.dumps(c.body["blocks"]) for c in fake_slack.named("chat.update")),
               what="the card to show the silence")
    click("alert.resolve", "U0ALICE", "r")
    wait_until(lambda: any("RESOLVED" in json.dumps(c.body["blocks"]) for c in fake_slack.named("chat.update")),
               what="the card to turn resolved")
    with rt.sessions() as s:
        assert s.scalars(select(Alert)).one().resolved_by == "U0ALICE"
