"""A request's id follows the work it hands to other threads: a signed `/ops` command over real HTTP (the bot's
own WSGI app on waitress, on loopback) logs on Bolt's listener thread, on the work pool after its ack, and on
the operation runner's thread for the operation it starts, each line with the request's id. An operation
nobody's request started (the scheduler's, a test's) logs with none."""
from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot import logfmt
from bot.alerts.receive import Receivers
from bot.http import make_wsgi_app
from bot.slack.bolt import SLACK_PATH, AckGate, build_bolt_app, wsgi_handler
from bot.transports import Listener
from integrations.base import Integrations
from tests.fakes.targets import FakeDeployment
from tests.slackreq import action_body, signed_headers, slash_body
from tests.waiting import wait_until

SCRIPT = str(Path(__file__).resolve().parents[1] / "fakes" / "action_script.py")


def config(tmp_path: Path) -> dict[str, object]:
    return {"services": [{"name": "backend"}],
            "actions": [{"name": "hello", "description": "Say hello", "confirm": False, "cwd": str(tmp_path),
                         "command": [sys.executable, SCRIPT, "ok", "1"]}]}


class Lines(logging.Handler):
    """The bot's log lines as JSON objects, formatted on the thread that logged them (as in production)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logfmt.formatter("json"))
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append({**json.loads(self.format(record)), "thread": record.threadName})

    def named(self, message: str) -> list[dict[str, object]]:
        return [line for line in list(self.lines) if line["message"] == message]

    def find(self, start: str) -> dict[str, object] | None:
        return next((line for line in list(self.lines) if str(line["message"]).startswith(start)), None)


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler, logger = Lines(), logging.getLogger("bot")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def served(make_runtime, fake_slack, work_pool, tmp_path):
    """The bot's HTTP app with its Slack route, as `opsbot serve` builds it, on a loopback port."""
    rt = make_runtime(config(tmp_path), fake=fake_slack)
    gate = AckGate()
    bolt = build_bolt_app(rt, rt.board, work_pool=work_pool, gate=gate)
    listener = Listener("127.0.0.1", 0)
    listener.start(make_wsgi_app(rt.engine, Receivers(rt.alerts), metrics=rt.metrics,
                                 slack=(SLACK_PATH, wsgi_handler(bolt, rt.settings, gate=gate))))
    url = f"http://127.0.0.1:{listener.port}{SLACK_PATH}"
    with httpx.Client(timeout=10) as client:

        def post(body: str, **headers: str) -> httpx.Response:
            return client.post(url, content=body.encode(), headers=signed_headers(body, **headers))

        yield rt, post
    listener.stop(within=1)


def test_a_commands_work_and_the_operation_it_starts_log_with_its_request_id(served, lines, fake_slack):
    rt, post = served
    body = slash_body("run hello", response_url=fake_slack.url + "/response/run")
    assert post(body, **{"X-Request-Id": "req-run-1"}).status_code == 200
    ran = wait_until(lambda: lines.find("operation "), timeout=10, what="the operation's line")
    command = wait_until(lambda: lines.find("/ops 'run' by U0ALICE: "), what="the command's line")
    assert ran["message"].endswith("(run of hello) succeeded"), ran
    assert str(ran["thread"]).startswith("opsbot-operation-") and str(command["thread"]).startswith("test-work")
    assert ran["request_id"] == command["request_id"] == "req-run-1"


def test_each_command_gets_its_own_id_when_slack_sends_none(served, lines, fake_slack):
    _, post = served
    for tag in ("one", "two"):
        assert post(slash_body("help", response_url=f"{fake_slack.url}/response/{tag}")).status_code == 200
    first, second = wait_until(lambda: len(ran := lines.named("/ops 'help' by U0ALICE: ok")) == 2 and ran,
                               what="both commands' lines")
    assert first["request_id"] and second["request_id"] and first["request_id"] != second["request_id"]


def test_a_line_logged_on_bolts_listener_thread_carries_the_request_id(served, lines, fake_slack):
    _, post = served
    body = action_body("deploy.everything", "1", response_url=fake_slack.url + "/response/unknown")
    assert post(body, **{"X-Request-Id": "req-click-7"}).status_code == 200
    refused = wait_until(lambda: lines.find("unknown button 'deploy.everything'"), what="the refusal's line")
    assert str(refused["thread"]).startswith("opsbot-listener") and refused["request_id"] == "req-click-7"


def test_an_operation_no_request_started_logs_without_a_request_id(make_runtime, run_ops, lines, tmp_path):
    backend = FakeDeployment("backend")
    rt = make_runtime(config(tmp_path), integrations=Integrations(rollback_targets={"backend": backend}))
    first, second = run_ops(rt, "rollback backend").card.key, run_ops(rt, "rollback backend").card.key
    rt.operations.confirm(first, user="U0ALICE")                     # as the scheduler would: no request
    assert rt.operations.runner.idle(timeout=10)
    with logfmt.request("req-confirm-3"):
        rt.operations.confirm(second, user="U0ALICE")
    assert rt.operations.runner.idle(timeout=10)
    by_id = {str(line["message"]).split()[1]: line for line in lines.lines if str(line["message"]).startswith(
        "operation ")}
    assert "request_id" not in by_id[first] and by_id[second]["request_id"] == "req-confirm-3"
