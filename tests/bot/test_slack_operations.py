"""Destructive operations through Slack: Confirm/Cancel buttons, double clicks, retries, roles, threads."""
import json

import pytest
from slack_bolt import BoltRequest
from sqlalchemy import event, select

from bot.slack.bolt import build_bolt_app
from bot.storage.models import AuditEntry, PendingAction
from integrations.base import Integrations
from tests.fakes.targets import FakeDeployment
from tests.slackreq import action_body, signed_headers, slash_body
from tests.waiting import stored_card, wait_until

CONFIG = {"permissions": {"roles": {"deployer": ["U0ALICE"]}, "commands": {"rollback": ["deployer"]}},
          "services": [{"name": "backend"}]}


@pytest.fixture
def bot(make_runtime, fake_slack, work_pool):
    backend = FakeDeployment("backend")
    rt = make_runtime(CONFIG, fake=fake_slack, integrations=Integrations(rollback_targets={"backend": backend}))
    app = build_bolt_app(rt, rt.board, work_pool=work_pool)

    def send(body, **headers):
        return app.dispatch(BoltRequest(body=body, headers=signed_headers(body, **headers)))

    def propose():
        send(slash_body("rollback backend", user="U0CAROL", response_url=fake_slack.url + "/response/rb"))
        card = fake_slack.wait_for("chat.postMessage")[0].body
        value = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]][0]["value"]
        wait_until(lambda: _state(rt) and stored_card(rt, "action", value), what="the confirmation card's ts")
        return value

    return rt, backend, send, propose


def _state(rt):
    with rt.sessions() as s:
        row = s.scalars(select(PendingAction)).one_or_none()
        return row.state if row else None


def _click(send, fake_slack, action_id, value, user, tag):
    return send(action_body(action_id, value, user=user, message_ts="1700000000.000001",
                            response_url=f"{fake_slack.url}/response/{tag}"))


def test_confirmation_card_names_the_change_and_the_role(bot, fake_slack):
    _, _, _, propose = bot
    propose()
    card = json.dumps(fake_slack.named("chat.postMessage")[0].body["blocks"], ensure_ascii=False)
    assert "Roll back backend?" in card and "revision 3 (web:3)  →  revision 2 (web:2)" in card
    assert "Only admins or `deployer` may confirm" in card
    assert '"style": "danger"' in card and "Confirm rollback" in card


def test_double_click_runs_once_and_progress_goes_to_the_thread(bot, fake_slack):
    rt, backend, send, propose = bot
    value = propose()
    backend.release.clear()                       # hold the first apply while the second click arrives
    assert _click(send, fake_slack, "ops.confirm", value, "U0ALICE", "c1").status == 200
    wait_until(lambda: _state(rt) == "running", what="the action to be claimed")
    assert _click(send, fake_slack, "ops.confirm", value, "U0ALICE", "c2").status == 200
    notice = fake_slack.wait_for("/response/c2")[0].body
    assert notice["response_type"] == "ephemeral" and "already confirmed and running" in notice["text"]
    backend.release.set()
    wait_until(lambda: _state(rt) == "succeeded", what="the rollback to finish")
    assert len(backend.applied) == 1
    thread = [c.body for c in fake_slack.named("chat.postMessage") if c.body.get("thread_ts")]
    assert all(t["thread_ts"] == "1700000000.000001" for t in thread)
    texts = [t["text"] for t in thread]
    assert texts[0].startswith(":arrow_forward: <@U0ALICE> confirmed") and "working on" in texts[1]
    final = wait_until(lambda: [c for c in fake_slack.named("chat.update")
                                if "done" in json.dumps(c.body["blocks"])], what="the card to show the outcome")
    assert "rollout finished: 3/3 ready" in json.dumps(final[-1].body["blocks"])


def test_a_retried_click_runs_once(bot, fake_slack):
    rt, backend, send, propose = bot
    value = propose()
    body = action_body("ops.confirm", value, user="U0ALICE", response_url=fake_slack.url + "/response/r")
    send(body)
    retry = send(body, **{"X-Slack-Retry-Num": "1"})
    assert retry.status == 200
    wait_until(lambda: _state(rt) == "succeeded", what="the rollback to finish")
    assert len(backend.applied) == 1


def test_a_click_without_the_role_is_refused_and_nothing_changes(bot, fake_slack):
    rt, backend, send, propose = bot
    value = propose()
    _click(send, fake_slack, "ops.confirm", value, "U0MALLORY", "bad")
    notice = fake_slack.wait_for(lambda c: c.name == "/response/bad" and c.body.get("response_type") == "ephemeral")
    assert "needs the role `deployer`" in notice[0].body["text"]
    assert backend.applied == [] and _state(rt) == "awaiting_confirmation"
    with rt.sessions() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (last.user_id, last.outcome, last.source) == ("U0MALLORY", "not_allowed", "button")


def test_cancel_button_updates_the_card(bot, fake_slack):
    rt, backend, send, propose = bot
    value = propose()
    _click(send, fake_slack, "ops.cancel", value, "U0CAROL", "cancel")
    update = fake_slack.wait_for(lambda c: c.name == "chat.update" and "cancelled" in json.dumps(c.body["blocks"]))
    assert update[0].body["ts"] == "1700000000.000001"
    assert _state(rt) == "cancelled" and backend.applied == []


def test_a_confirm_click_takes_at_most_four_transactions(bot, fake_slack):
    """From the signed click to the card showing the outcome: the delivery key, the claim (role check and
    compare-and-set under one row lock), the click's audit row, and the outcome with its own audit row."""
    rt, backend, send, propose = bot
    value = propose()
    statements: list[list[str]] = []

    def began(conn):
        statements.append([])

    def executed(conn, cursor, statement, *args):
        if statements:
            statements[-1].append(" ".join(statement.split())[:60])

    event.listen(rt.engine, "begin", began)
    event.listen(rt.engine, "before_cursor_execute", executed)
    try:
        _click(send, fake_slack, "ops.confirm", value, "U0ALICE", "count")
        wait_until(lambda: [c for c in fake_slack.named("chat.update") if "done*" in json.dumps(c.body["blocks"])],
                   what="the card to show the outcome")
        assert rt.operations.runner.idle(timeout=10)
    finally:
        event.remove(rt.engine, "begin", began)
        event.remove(rt.engine, "before_cursor_execute", executed)
    assert len(statements) <= 4, statements
    assert len(backend.applied) == 1 and _state(rt) == "succeeded"


def test_a_delayed_redraw_never_turns_a_finished_card_back_to_running(bot, fake_slack, work_pool):
    rt, backend, send, propose = bot
    value = propose()
    fake_slack.rate_limit("chat.update", times=1, retry_after=1)     # the click's "running" card must wait
    _click(send, fake_slack, "ops.confirm", value, "U0ALICE", "late")
    wait_until(lambda: _state(rt) == "succeeded", what="the rollback to finish")
    wait_until(lambda: [c for c in fake_slack.named("chat.update", ok_only=True)
                        if "done*" in json.dumps(c.body["blocks"])], what="the finished card")
    assert rt.operations.runner.idle(timeout=10)
    work_pool.shutdown(wait=True)                  # the click's handler has had its retry after the 429
    assert fake_slack.named("chat.update")[0].status == 429
    shown = ["done*" if "done*" in s else "running*" if "running*" in s else "?"
             for s in (json.dumps(c.body["blocks"]) for c in fake_slack.named("chat.update", ok_only=True))]
    assert shown[-1] == "done*" and "running*" not in shown[shown.index("done*"):]
