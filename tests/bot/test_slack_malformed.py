"""Signed requests of every wrong shape, over real HTTP (waitress on loopback): a 400 or an ephemeral answer,
never a 500, never an ERROR record. Refusals a person caused (a missing row, an unknown button) are INFO."""
import json
import logging
import random
import threading
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from sqlalchemy import select
from waitress import create_server

import commands
from bot.audit import storable
from bot.reply import ActionId
from bot.slack.bolt import MAX_BODY, AckGate, build_bolt_app, wsgi_handler
from bot.slack.middleware import prune_deliveries, record_delivery
from bot.storage.models import AuditEntry, Delivery, Incident
from tests.slackreq import action_body, signed_headers, slash_body
from tests.waiting import wait_until


class Server:
    """One waitress server for the module, on loopback; each test plugs its own Slack handler in (`app`).
    Started and closed once: closing waitress from another thread races its loop (it double-closes a pipe)."""

    def __init__(self):
        self.app = None
        self.server = create_server(self._route, host="127.0.0.1", port=0, threads=4)
        self.url = f"http://127.0.0.1:{self.server.effective_port}/slack/events"
        self.client = httpx.Client(timeout=10)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def _route(self, environ, start_response):
        return self.app(environ, start_response)

    def close(self):
        self.client.close()
        self.server.trigger.pull_trigger(self.server.close)       # on the server's own loop thread
        self.thread.join(5)
        self.server.task_dispatcher.shutdown()


@pytest.fixture(scope="module")
def server():
    server = Server()
    yield server
    server.close()


class Edge:
    def __init__(self, rt, server, app, gate=None):
        self.rt, self.server, self.url = rt, server, server.url
        server.app = wsgi_handler(app, rt.settings, gate=gate)

    def post(self, body, *, content_type=None, **headers):
        raw = body if isinstance(body, bytes) else body.encode()
        signed = signed_headers(raw, **headers)
        if content_type:
            signed["Content-Type"] = content_type
        return self.server.client.post(self.url, content=raw, headers=signed)


@pytest.fixture
def edge(make_runtime, fake_slack, work_pool, server):
    rt = make_runtime({"services": [{"name": "backend"}]}, fake=fake_slack)
    gate = AckGate()
    return Edge(rt, server, build_bolt_app(rt, rt.board, work_pool=work_pool, gate=gate), gate)


def _click(**changes):
    """A signed block_actions payload, with top-level keys replaced (None removes one)."""
    payload = json.loads(dict(parse_qsl(action_body("incident.ack", "1", response_url="http://127.0.0.1:9/r")))["payload"])
    for key, value in changes.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return urlencode({"payload": json.dumps(payload)})


def _action(**changes):
    action = {"type": "button", "action_id": "incident.ack", "block_id": "b1", "value": "1"}
    for key, value in changes.items():
        if value is None:
            action.pop(key, None)
        else:
            action[key] = value
    return [action]


MALFORMED = {
    "body not UTF-8": b"payload=\xff\xfe\xfd",
    "payload not JSON": urlencode({"payload": "{not json"}),
    "payload a list": urlencode({"payload": "[1, 2]"}),
    "payload a string": urlencode({"payload": '"block_actions"'}),
    "payload a number": urlencode({"payload": "42"}),
    "payload null": urlencode({"payload": "null"}),
    "payload nested 5000 deep": urlencode({"payload": "[" * 5000 + "]" * 5000}),
    "JSON body a list": ("[1, 2, 3]", "application/json"),
    "no type": _click(type=None),
    "type a number": _click(type=5),
    "type unknown": _click(type="view_submission"),
    "no actions": _click(actions=None),
    "actions not a list": _click(actions="incident.ack"),
    "actions empty": _click(actions=[]),
    "action not an object": _click(actions=["incident.ack"]),
    "no action_id": _click(actions=_action(action_id=None)),
    "action_id a number": _click(actions=_action(action_id=7)),
    "no value": _click(actions=_action(value=None)),
    "value an object": _click(actions=_action(value={"id": 1})),
    "value a list": _click(actions=_action(value=[1])),
    "value oversize": _click(actions=_action(value="1" * 5000)),
    "action_id oversize": _click(actions=_action(action_id="a" * 300)),
    "value with NUL": _click(actions=_action(value="1\x00")),
    "value with a lone surrogate": _click(actions=_action(value="1\ud800")),
    "user not an object": _click(user="U0ALICE"),
    "user id missing": _click(user={"name": "alice"}),
    "user id with NUL": _click(user={"id": "U0\x00ALICE"}),
    "user id a lone surrogate": _click(user={"id": "\udfff"}),
    "container a string": _click(container="C0ONCALL"),
    "channel a list": _click(channel=["C0ONCALL"]),
    "response_url a number": _click(response_url=12),
    "trigger_id an object": _click(trigger_id={"id": 1}),
    "event a string": _click(event="message"),
    "team a list": _click(team=["T111"]),
    "response_url not a URL": _click(response_url="x"),
    "command with an event field": slash_body("help", response_url="http://127.0.0.1:9/r") + "&event=x",
    "ssl_check that is not one": urlencode({"ssl_check": "x", "token": "t"}),
    "command not /ops": slash_body("help", response_url="http://127.0.0.1:9/r").replace("%2Fops", "%2Fdeploy"),
    "command user_id oversize": slash_body("help", response_url="http://127.0.0.1:9/r", user="U" * 100),
    "command as JSON with a number text": (json.dumps({"command": "/ops", "text": 5, "user_id": "U1"}),
                                           "application/json"),
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_signed_malformed_request_gets_a_400_and_no_error_record(edge, body, caplog):
    content_type = None
    if isinstance(body, tuple):
        body, content_type = body
    with caplog.at_level(logging.INFO):
        resp = edge.post(body, content_type=content_type)
    assert resp.status_code == 400, resp.text
    assert resp.text.startswith("malformed Slack request") and "Traceback" not in resp.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(r.levelno == logging.INFO and "malformed Slack request refused" in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize("body", [b"payload=\xff", urlencode({"payload": "[]"}), _click(actions="x")],
                         ids=["not UTF-8", "payload a list", "actions a string"])
def test_an_unsigned_malformed_request_is_401_not_400(edge, body):
    raw = body if isinstance(body, bytes) else body.encode()
    assert edge.server.client.post(edge.url, content=raw, headers=signed_headers("something else")).status_code == 401


def test_a_body_over_the_limit_is_413(edge):
    body = slash_body("x" * (MAX_BODY + 1), response_url="http://127.0.0.1:9/r")
    assert edge.post(body).status_code == 413


@pytest.mark.parametrize("text", ["x" * 100_000, "status\x00", "incident open P2 nul\x00here", "\x00"],
                         ids=["100 KB", "NUL after the command", "NUL in a title", "only NUL"])
def test_odd_command_text_gets_a_200_and_an_answer(edge, fake_slack, text):
    resp = edge.post(slash_body(text, response_url=fake_slack.url + "/response/odd"))
    assert resp.status_code == 200
    answer = wait_until(lambda: fake_slack.named("/response/odd") or fake_slack.named("chat.postMessage"),
                        what="the answer")[0].body
    assert "Traceback" not in str(answer) and (answer.get("text") or answer.get("blocks"))


@pytest.mark.parametrize("text", ["x" * 100_000, "status\x00"], ids=["100 KB", "NUL"])
def test_odd_command_text_is_audited_without_an_error(edge, fake_slack, db_url, text, caplog):
    with caplog.at_level(logging.INFO):
        assert edge.post(slash_body(text, response_url=fake_slack.url + "/response/odd")).status_code == 200
        rows = wait_until(lambda: _audit(edge.rt), what="the audit row")
    assert len(rows) == 1 and rows[0].command.startswith(storable(text, len(text))[:100])     # NUL stored as ␀
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _audit(rt):
    with rt.sessions() as s:
        return s.scalars(select(AuditEntry)).all()


def test_an_unknown_button_gets_an_ephemeral_answer_logged_at_info(edge, fake_slack, caplog):
    body = action_body("deploy.everything", "1", response_url=fake_slack.url + "/response/unknown")
    with caplog.at_level(logging.INFO):
        assert edge.post(body).status_code == 200
        answer = fake_slack.wait_for("/response/unknown")[0].body
    assert answer["response_type"] == "ephemeral" and "`deploy.everything`" in answer["text"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("unknown button" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)


@pytest.mark.parametrize("action_id", [a.value for a in commands.BUTTONS])
def test_a_click_on_a_missing_row_answers_and_logs_info_only(edge, fake_slack, action_id, caplog):
    value = "999.1" if action_id == ActionId.CHECKLIST_DONE else "999"
    body = action_body(action_id, value, response_url=fake_slack.url + "/response/missing")
    with caplog.at_level(logging.INFO):
        assert edge.post(body).status_code == 200
        answer = fake_slack.wait_for("/response/missing")[0].body
        wait_until(lambda: _audit(edge.rt), what="the audit row")
        edge.rt.operations.runner.idle(timeout=5)
    assert answer["response_type"] == "ephemeral"
    assert "999" in answer["text"] or "does not exist" in answer["text"], answer["text"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [r.getMessage() for r in caplog.records]
    assert any("refused" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)
    assert [a.outcome for a in _audit(edge.rt)] == ["not_found"]


def test_a_retried_command_runs_once_over_http(edge, fake_slack):
    body = slash_body("incident open P2 retried", trigger_id="77.77.retry", response_url=fake_slack.url + "/r/1")
    assert edge.post(body).status_code == 200
    retry = edge.post(body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200 and retry.headers.get("x-slack-no-retry") == "1"
    fake_slack.wait_for("chat.postMessage")
    with edge.rt.sessions() as s:
        assert s.query(Incident).count() == 1
        assert s.get(Delivery, "trigger:77.77.retry") is not None


def test_a_delivery_another_replica_took_is_acked_and_not_run(make_runtime, fake_slack, work_pool, server):
    """The ack path only checks this process's memory; the stored key decides, after the ack, across replicas."""
    rt = make_runtime({}, fake=fake_slack)
    assert record_delivery(rt, "trigger:88.88.elsewhere")        # the other replica (or this one, before a crash)
    edge = Edge(rt, server, build_bolt_app(rt, rt.board, work_pool=work_pool))
    taken = slash_body("incident open P2 twice", trigger_id="88.88.elsewhere", response_url=fake_slack.url + "/r/a")
    fresh = slash_body("help", trigger_id="88.88.fresh", response_url=fake_slack.url + "/r/b")
    assert edge.post(taken).status_code == 200 and edge.post(fresh).status_code == 200
    fake_slack.wait_for("/r/b")
    work_pool.shutdown(wait=True)
    assert fake_slack.named("/r/a") == [] and fake_slack.named("chat.postMessage") == []
    with rt.sessions() as s:
        assert s.query(Incident).count() == 0


def test_old_delivery_keys_are_pruned_and_new_ones_kept(make_runtime, clock):
    rt = make_runtime({})
    record_delivery(rt, "trigger:old")
    clock.advance(days=1, seconds=1)
    record_delivery(rt, "trigger:new")
    assert prune_deliveries(rt) == 1
    with rt.sessions() as s:
        assert s.scalars(select(Delivery.key)).all() == ["trigger:new"]


def test_slacks_own_checks_are_still_answered(edge):
    assert edge.post(urlencode({"ssl_check": "1", "token": "legacy-unused"})).status_code == 200
    challenge = edge.post(json.dumps({"type": "url_verification", "challenge": "c-123", "token": "t"}),
                          content_type="application/json")
    assert challenge.status_code == 200 and "c-123" in challenge.text


WEIRD = [None, 0, 1.5, True, "", "x", "\x00", "\ud800", [], [1], {}, {"id": 5}, "a" * 3000, [[[]]]]
KEYS = ["event", "team", "enterprise", "authorizations", "view", "message", "state", "actions", "user", "channel",
        "container", "response_url", "trigger_id", "type", "api_app_id", "is_enterprise_install", "function_data"]


def _mutated(rng, value, depth=0):
    """`value` with one field somewhere replaced by something of the wrong type or shape."""
    if isinstance(value, dict) and value:
        key = rng.choice([*value, *KEYS])
        if isinstance(value.get(key), dict | list) and depth < 3 and rng.random() < 0.5:
            return {**value, key: _mutated(rng, value[key], depth + 1)}
        return {**value, key: rng.choice(WEIRD)}
    if isinstance(value, list) and value:
        i = rng.randrange(len(value))
        inner = _mutated(rng, value[i], depth + 1) if depth < 3 and rng.random() < 0.6 else rng.choice(WEIRD)
        return [*value[:i], inner, *value[i + 1:]]
    return rng.choice(WEIRD)


def test_three_hundred_mutated_clicks_get_no_5xx_and_no_error_record(edge, fake_slack, caplog):
    """A small seeded fuzz over the click payload (the full fuzz over every input is its own test)."""
    rng = random.Random(11)
    click = json.loads(dict(parse_qsl(action_body("incident.ack", "1", response_url=fake_slack.url + "/r")))["payload"])
    statuses = set()
    with caplog.at_level(logging.INFO):
        for _ in range(300):
            payload = _mutated(rng, _mutated(rng, click))
            statuses.add(edge.post(urlencode({"payload": json.dumps(payload)})).status_code)
        edge.rt.operations.runner.idle(timeout=10)
    assert statuses <= {200, 400} and 400 in statuses
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
