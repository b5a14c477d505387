"""The Slack edge at Bolt-dispatch level: signed requests in, calls to a fake Slack Web API out."""
import json
import time

import pytest
from slack_bolt import BoltRequest
from sqlalchemy import event, select

from bot.slack.bolt import AckGate, build_bolt_app
from bot.storage.models import AuditEntry, Incident
from tests.slackreq import action_body, signed_headers, slash_body
from tests.waiting import stored_card, wait_until


@pytest.fixture
def slack(make_runtime, fake_slack, health_targets, work_pool):
    config = {"services": [{"name": "backend", "health": {"url": f"{health_targets.url}/healthy"}},
                           {"name": "search", "health": {"url": f"{health_targets.url}/unhealthy"}}]}
    rt = make_runtime(config, fake=fake_slack)
    app = build_bolt_app(rt, rt.board, work_pool=work_pool)

    def send(body, **headers):
        started = time.monotonic()
        resp = app.dispatch(BoltRequest(body=body, headers=signed_headers(body, **headers)))
        return resp, time.monotonic() - started

    return rt, send


def test_status_acks_at_once_then_answers_in_channel(slack, fake_slack):
    rt, send = slack
    resp, took = send(slash_body("status", response_url=fake_slack.url + "/response/status"))
    assert resp.status == 200 and took < 1.0
    assert "Working on `/ops status`" in json.loads(resp.body)["text"]
    answer = fake_slack.wait_for("/response/status")[0].body
    assert answer["response_type"] == "in_channel"
    text = json.dumps(answer["blocks"], ensure_ascii=False)
    assert "*search* — down" in text and "*backend* — ok" in text


def test_help_is_answered_ephemerally(slack, fake_slack):
    _, send = slack
    resp, _ = send(slash_body("help", response_url=fake_slack.url + "/response/help"))
    assert resp.status == 200
    answer = fake_slack.wait_for("/response/help")[0].body
    assert answer["response_type"] == "ephemeral" and "/ops incident open" in json.dumps(answer["blocks"])


def test_incident_card_is_posted_and_its_ts_remembered(slack, fake_slack):
    rt, send = slack
    send(slash_body("incident open P2 checkout errors", response_url=fake_slack.url + "/response/open"))
    posted = fake_slack.wait_for("chat.postMessage")[0].body
    assert posted["channel"] == "C0ONCALL" and "Incident #1: checkout errors" in json.dumps(posted["blocks"])
    buttons = [e["action_id"] for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["incident.ack", "incident.resolve"]
    assert wait_until(lambda: stored_card(rt, "incident", "1"), what="the card's ts to be stored") == (
        "C0ONCALL", "1700000000.000001")


def test_card_falls_back_to_response_url_where_the_bot_is_not_in_channel(slack, fake_slack):
    _, send = slack
    send(slash_body("incident open P3 x", channel="CPRIVATE1", response_url=fake_slack.url + "/response/p"))
    answer = fake_slack.wait_for("/response/p")[0].body
    assert answer["response_type"] == "in_channel" and "Incident #1" in json.dumps(answer["blocks"])


def test_acknowledge_button_rerenders_the_card_and_a_second_click_says_who(slack, fake_slack):
    rt, send = slack
    send(slash_body("incident open P1 api down", response_url=fake_slack.url + "/response/open"))
    fake_slack.wait_for("chat.postMessage")
    ts = "1700000000.000001"   # the fake's first message ts
    wait_until(lambda: stored_card(rt, "incident", "1"), what="the card's ts to be stored")
    send(action_body("incident.ack", "1", user="U0BOB", message_ts=ts, response_url=fake_slack.url + "/response/a1"))
    updated = fake_slack.wait_for("chat.update")[0].body
    assert updated["ts"] == ts
    assert "acknowledged" in json.dumps(updated["blocks"]) and "<@U0BOB>" in json.dumps(updated["blocks"])
    send(action_body("incident.ack", "1", user="U0CAROL", message_ts=ts,
                     response_url=fake_slack.url + "/response/a2"))
    notice = fake_slack.wait_for("/response/a2")[0].body
    assert notice["response_type"] == "ephemeral" and notice["replace_original"] is False
    assert "already acknowledged by <@U0BOB>" in notice["text"]
    with rt.sessions() as s:
        assert s.scalars(select(Incident)).one().acknowledged_by == "U0BOB"
        sources = [r.source for r in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert sources == ["slack", "button", "button"]


def test_typed_ack_updates_the_stored_card(slack, fake_slack):
    rt, send = slack
    send(slash_body("incident open P2 x", response_url=fake_slack.url + "/response/o"))
    fake_slack.wait_for("chat.postMessage")

    wait_until(lambda: stored_card(rt, "incident", "1"), what="the card's ts")    # stored after Slack answers
    send(slash_body("incident ack 1", user="U0BOB", response_url=fake_slack.url + "/response/ack"))
    update = fake_slack.wait_for("chat.update")[0].body
    assert update["ts"] == "1700000000.000001" and "acknowledged" in json.dumps(update["blocks"])
    assert fake_slack.wait_for("/response/ack")[0].body["response_type"] == "in_channel"


def test_a_retried_delivery_runs_once(slack, fake_slack):
    rt, send = slack
    body = slash_body("incident open P2 retried", trigger_id="9.9.retry", response_url=fake_slack.url + "/response/r")
    first, _ = send(body)
    retry, _ = send(body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert first.status == retry.status == 200
    assert retry.headers.get("x-slack-no-retry") == ["1"]
    fake_slack.wait_for("chat.postMessage")
    with rt.sessions() as s:
        assert s.query(Incident).count() == 1


def test_rate_limited_answer_is_retried_after_retry_after(slack, fake_slack):
    _, send = slack
    fake_slack.rate_limit("/response/rl", times=1, retry_after=1)
    send(slash_body("help", response_url=fake_slack.url + "/response/rl"))
    first, second = fake_slack.wait_for("/response/rl", n=2, timeout=6)
    assert second.at - first.at >= 0.9


@pytest.mark.parametrize("headers", [
    {"secret": "wrong-secret"},
    {"ts": time.time() - 6 * 60},
])
def test_bad_signature_or_stale_timestamp_is_401(slack, fake_slack, headers):
    rt, send = slack
    resp, _ = send(slash_body("incident open P1 forged", response_url=fake_slack.url + "/response/x"), **headers)
    assert resp.status == 401
    with rt.sessions() as s:
        assert s.query(Incident).count() == 0


def test_the_ack_path_touches_neither_the_database_nor_slack(make_runtime, fake_slack, work_pool):
    """Before an ack: the signature check and a look in this process's memory. The delivery key, the audit row
    and the answer come after, once no ack is in flight (the gate is held open here until the acks are in)."""
    rt = make_runtime({}, fake=fake_slack)
    gate = AckGate(max_defer_s=60)
    app = build_bolt_app(rt, rt.board, work_pool=work_pool, gate=gate)
    statements: list[str] = []
    event.listen(rt.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with gate.acking():                      # as the HTTP handler does while a request waits for its ack
        for i in range(5):
            body = slash_body("help", response_url=f"{fake_slack.url}/response/gate-{i}")
            assert app.dispatch(BoltRequest(body=body, headers=signed_headers(body))).status == 200
        assert statements == [] and [c.name for c in fake_slack.calls] == ["auth.test"]
    fake_slack.wait_for(lambda c: c.name.startswith("/response/gate-"), n=5)
    assert any("INSERT INTO deliveries" in s for s in statements)
    assert any("INSERT INTO audit_log" in s for s in statements)


def test_work_waits_for_the_acks_in_flight_at_most_max_defer():
    gate = AckGate(max_defer_s=0.05, settle_s=0)
    with gate.acking():
        started = time.monotonic()
        gate.quiet()
        assert time.monotonic() - started >= 0.05
    AckGate(max_defer_s=600).quiet()         # nothing in flight, ever: returns at once (else pytest-timeout fails)


def test_work_waits_for_the_burst_to_settle_after_the_last_ack():
    gate = AckGate(max_defer_s=600, settle_s=0.05)
    with gate.acking():
        pass
    acked = time.monotonic()
    gate.quiet()
    assert time.monotonic() - acked >= 0.05
