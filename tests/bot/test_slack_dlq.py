"""/ops dlq end to end: signed Slack requests into the Bolt app, the real SQS adapter on moto, the fake Slack API."""
import json
from datetime import UTC, datetime, timedelta

import pytest
from slack_bolt import BoltRequest
from sqlalchemy import select

from bot.slack.bolt import build_bolt_app
from bot.storage.models import AuditEntry, PendingAction
from tests.commands.test_dlq import config
from tests.fakes.aws import aws, moto_server  # noqa: F401  (fixtures)
from tests.fakes.sqs import Queues
from tests.slackreq import action_body, signed_headers, slash_body
from tests.waiting import stored_card, wait_until


@pytest.fixture
def slack(make_runtime, fake_slack, work_pool, aws):  # noqa: F811
    rt = make_runtime(config(aws.url), fake=fake_slack)
    app = build_bolt_app(rt, rt.board, work_pool=work_pool)

    def send(body):
        return app.dispatch(BoltRequest(body=body, headers=signed_headers(body)))

    return rt, send


def _state(rt):
    with rt.sessions() as s:
        row = s.scalars(select(PendingAction)).one_or_none()
        return row.state if row else None


def _blocks(call) -> str:
    return json.dumps(call.body.get("blocks", []), ensure_ascii=False)


def test_peek_answers_only_the_asker_with_masked_bodies_counts_and_ages(slack, fake_slack, aws, clock):  # noqa: F811
    rt, send = slack
    queues = Queues(aws)
    _, dlq = queues.pair()
    queues.put(dlq, '{"order": 7, "api_key": "sk_live_51HxyzSECRET"}', '{"order": 8}')
    clock.now = datetime.now(UTC) + timedelta(hours=3)
    assert send(slash_body("dlq orders-dlq peek 5", response_url=fake_slack.url + "/response/peek")).status == 200
    answer = fake_slack.wait_for("/response/peek", timeout=10)[0]
    shown = _blocks(answer)
    assert answer.body["response_type"] == "ephemeral"
    assert "*orders-dlq*: 2 waiting · showing 2" in shown and shown.count("received once · sent 3h ago") == 2
    assert "sk_live_51HxyzSECRET" not in shown and '\\"api_key\\": \\"••••••' in shown
    assert queues.depth(dlq) == (2, 0)
    with rt.sessions() as s:
        row = s.scalars(select(AuditEntry)).one()
    assert (row.command, row.subcommand, row.outcome, row.source) == ("dlq orders-dlq peek 5", "dlq", "ok", "slack")


def test_redrive_confirmed_twice_runs_once_with_progress_and_the_count_on_the_card(slack, fake_slack, aws):  # noqa: F811
    rt, send = slack
    queues = Queues(aws)
    source, dlq = queues.pair()
    queues.fill(dlq, 23)
    send(slash_body("dlq orders-dlq redrive", user="U0CAROL", response_url=fake_slack.url + "/response/rd"))
    card = fake_slack.wait_for("chat.postMessage", timeout=10)[0]
    shown = _blocks(card)
    assert "Redrive orders-dlq?" in shown and "Only admins or `queue-admin` may confirm" in shown
    assert "23 messages waiting in orders-dlq  →  all of them back in orders" in shown
    value = [e for b in card.body["blocks"] if b["type"] == "actions" for e in b["elements"]][0]["value"]
    _, ts = wait_until(lambda: stored_card(rt, "action", value), what="the confirmation card's ts")
    for tag in ("c1", "c2"):
        assert send(action_body("ops.confirm", value, user="U0ALICE", message_ts=ts,
                                response_url=f"{fake_slack.url}/response/{tag}")).status == 200
    notice = fake_slack.wait_for("/response/c2", timeout=10)[0].body
    assert notice["response_type"] == "ephemeral" and "already" in notice["text"]
    wait_until(lambda: _state(rt) == "succeeded", timeout=20, what="the redrive to finish")
    final = wait_until(lambda: [c for c in fake_slack.named("chat.update") if "done*" in _blocks(c)],
                       timeout=10, what="the card to show the outcome")
    assert "*Redrive of orders-dlq done*: moved 23 of 23 message(s) from orders-dlq to orders" in _blocks(final[-1])
    thread = [c.body["text"] for c in fake_slack.named("chat.postMessage") if c.body.get("thread_ts")]
    assert sum(t.startswith(":arrow_forward: <@U0ALICE> confirmed: redrive") for t in thread) == 1
    assert [t for t in thread if t.startswith("moved ")] == ["moved 10/23", "moved 20/23", "moved 23/23"]
    assert queues.depth(source) == (23, 0) and queues.depth(dlq) == (0, 0)
    with rt.sessions() as s:
        outcomes = s.scalars(select(AuditEntry.outcome).where(AuditEntry.source == "operation")).all()
    assert outcomes == ["succeeded"]


def test_redrive_with_max_moves_that_many_and_says_so_on_the_card(slack, fake_slack, aws):  # noqa: F811
    rt, send = slack
    queues = Queues(aws)
    source, dlq = queues.pair()
    queues.fill(dlq, 12)
    send(slash_body("dlq orders-dlq redrive --max 5", user="U0CAROL", response_url=fake_slack.url + "/response/rd"))
    card = fake_slack.wait_for("chat.postMessage", timeout=10)[0]
    value = [e for b in card.body["blocks"] if b["type"] == "actions" for e in b["elements"]][0]["value"]
    _, ts = wait_until(lambda: stored_card(rt, "action", value), what="the confirmation card's ts")
    send(action_body("ops.confirm", value, user="U0ALICE", message_ts=ts,
                     response_url=f"{fake_slack.url}/response/c"))
    final = wait_until(lambda: [c for c in fake_slack.named("chat.update") if "done*" in _blocks(c)],
                       timeout=20, what="the card to show the outcome")
    assert "moved 5 of 5 message(s) from orders-dlq to orders; 7 messages left in orders-dlq" in _blocks(final[-1])
    assert queues.depth(source) == (5, 0) and queues.depth(dlq) == (7, 0)
