"""The Socket Mode fake against a bare slack_bolt App and slack_sdk's builtin client: no opsbot code."""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from slack_bolt import Ack, App, Respond, Say
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.fake_slack import FakeSlack
from tests.fakes.socket_mode import FakeSocketMode
from tests.waiting import wait_until

PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


@pytest.fixture
def fake_socket(fake_slack: FakeSlack) -> Iterator[FakeSocketMode]:
    fake = FakeSocketMode()
    fake_slack.socket_url = fake.url
    yield fake
    fake.close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROXY_VARS:   # the builtin client would tunnel even 127.0.0.1 through a proxy
        monkeypatch.delenv(var, raising=False)


@contextmanager
def bolt_over_socket_mode(fake_slack: FakeSlack, fake_socket: FakeSocketMode) -> Iterator[SocketModeHandler]:
    """A bare Bolt app with one command and one button, connected over Socket Mode; closed afterwards."""
    listeners = ThreadPoolExecutor(4, thread_name_prefix="bolt-listener")
    app = App(client=WebClient(token="xoxb-test", base_url=fake_slack.api_url), signing_secret="unused",
              token_verification_enabled=False, listener_executor=listeners)

    @app.command("/ops")
    def ops(ack: Ack, respond: Respond, command: dict[str, str]) -> None:
        ack(f"on it: {command['text']}")
        respond(f"done: {command['text']} for {command['user_id']}")

    @app.action("some.id")
    def click(ack: Ack, say: Say, body: dict[str, Any]) -> None:
        ack()
        say(f"clicked {body['actions'][0]['value']}")

    handler = SocketModeHandler(app, "xapp-test")   # its WebClient is app.client: apps.connections.open goes there
    handler.connect()                               # returns at once; the client's own threads receive
    try:
        fake_socket.wait_connected()
        yield handler
    finally:
        close_quickly(handler, fake_socket)
        listeners.shutdown(wait=True)


def close_quickly(handler: SocketModeHandler, fake_socket: FakeSocketMode) -> None:
    """Close the builtin client in milliseconds: its own close() waits up to 3 s for the read it is blocked in
    (the socket's timeout) and up to 1 s for its message loop's queue poll."""
    handler.client.auto_reconnect_enabled = False   # else its 10 s ping check may reconnect in between
    fake_socket.close()                     # Slack's close frame: the client's read returns and its session ends
    handler.client.closed = True            # the message loop's stop flag (close() sets it too, but only later)
    handler.client.message_queue.put(None)  # wakes that loop now; it skips None
    handler.close()


@pytest.fixture
def handler(fake_slack: FakeSlack, fake_socket: FakeSocketMode) -> Iterator[SocketModeHandler]:
    with bolt_over_socket_mode(fake_slack, fake_socket) as handler:
        yield handler


def test_slash_command_is_acked_with_its_payload_and_respond_reaches_the_response_url(
        handler: SocketModeHandler, fake_socket: FakeSocketMode, fake_slack: FakeSlack) -> None:
    envelope_id = fake_socket.send_slash_command("status", response_url=f"{fake_slack.url}/response/cmd-1")

    assert fake_socket.wait_ack(envelope_id) == {"envelope_id": envelope_id, "payload": {"text": "on it: status"}}
    (answer,) = fake_slack.wait_for("/response/cmd-1")
    assert answer.body["text"] == "done: status for U0ALICE"


def test_button_click_is_acked_and_say_posts_to_the_channel(
        handler: SocketModeHandler, fake_socket: FakeSocketMode, fake_slack: FakeSlack) -> None:
    envelope_id = fake_socket.send_block_action("some.id", "inc-7", response_url=f"{fake_slack.url}/response/a-1",
                                                channel="C0ONCALL")

    assert fake_socket.wait_ack(envelope_id) == {"envelope_id": envelope_id}
    (post,) = fake_slack.wait_for("chat.postMessage")
    assert (post.body["channel"], post.body["text"]) == ("C0ONCALL", "clicked inc-7")


def test_the_socket_url_is_asked_for_with_the_app_token_only(
        handler: SocketModeHandler, fake_slack: FakeSlack) -> None:
    (call,) = fake_slack.named("apps.connections.open")
    assert call.headers["Authorization"] == "Bearer xapp-test"
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        WebClient(base_url=fake_slack.api_url).apps_connections_open(app_token="xoxb-test")


def test_a_disconnect_message_makes_the_client_reconnect_and_work_on(
        handler: SocketModeHandler, fake_socket: FakeSocketMode, fake_slack: FakeSlack) -> None:
    fake_socket.send_disconnect()
    fake_socket.wait_connected(count=2)
    wait_until(lambda: len(fake_slack.named("apps.connections.open")) == 2, what="a second apps.connections.open")

    envelope_id = fake_socket.send_slash_command("", response_url=f"{fake_slack.url}/response/cmd-2")
    assert fake_socket.wait_ack(envelope_id)["payload"] == {"text": "on it: "}


def test_closing_leaves_no_thread_behind_and_logs_no_error(
        fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    before = set(threading.enumerate())
    with caplog.at_level(logging.INFO):
        fake_socket = FakeSocketMode()
        fake_slack.socket_url = fake_socket.url
        with bolt_over_socket_mode(fake_slack, fake_socket) as handler:
            envelope_id = fake_socket.send_slash_command("x", response_url=f"{fake_slack.url}/response/cmd-3")
            fake_socket.wait_ack(envelope_id)
            fake_slack.wait_for("/response/cmd-3")
            assert handler.client.is_connected()
        fake_socket.close()

    wait_until(lambda: set(threading.enumerate()) <= before, timeout=5,
               what=f"threads to end; left: {set(threading.enumerate()) - before}")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
