"""How Slack reaches the bot: over HTTP (`opsbot serve`) or over a Socket Mode WebSocket (`opsbot socket`).

Both serve the bot's HTTP app (alarm receivers, /healthz, /readyz) on a local port and return once the
stop event is set. Everything else, workers included, is the same `Bot` (see bot.app).

The port is bound before the bot is built (`Listener`), so a port in use stops the start before anything
else happens. Stopping is graceful: the listening socket closes at once, requests already received (Slack acks
among them) get their answers for up to `DRAIN_S`, then the connections close.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from bot import logfmt
from bot.app import Bot
from bot.http import HTTP_THREADS, MAX_REQUEST_BODY, StartResponse, WsgiApp
from bot.slack.bolt import SLACK_PATH

log = logging.getLogger(__name__)
DRAIN_S = 3.5           # the longest a stop waits for requests in flight (a Slack ack is due within 3 s)
DRAIN_POLL_S = 0.05
SIGNAL_POLL_S = 0.2      # how soon a signal taken by another thread is handled (see wait_for)


class Listener:
    """waitress bound to host:port at construction (OSError when it cannot be: in use, not an address of
    this host), so that the port is checked before the bot is built; it serves `app` after `start(app)`."""

    def __init__(self, host: str, port: int) -> None:
        from waitress import create_server  # type: ignore[import-untyped]

        self.host = host
        self._app: WsgiApp | None = None
        self._server: Any = create_server(self._serve, host=host, port=port, threads=HTTP_THREADS, ident="opsbot",
                                                max_request_body_size=MAX_REQUEST_BODY)
        self._map: dict[int, Any] = getattr(self._server, "_map", None) or self._server.map
        self.port = int(getattr(self._server, "effective_port", port))
        self._thread = threading.Thread(target=self._server.run, name="opsbot-http", daemon=True)

    def start(self, app: WsgiApp) -> None:
        self._app = app
        self._thread.start()

    def _serve(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        assert self._app is not None              # nothing is served before start()
        return self._app(environ, start_response)

    def stop(self, *, within: float = DRAIN_S) -> None:
        """Stop accepting, let requests in flight finish (up to `within` seconds), then close everything."""
        from waitress import wasyncore
        from waitress.server import BaseWSGIServer  # type: ignore[import-untyped]

        listeners = [obj for obj in list(self._map.values()) if isinstance(obj, BaseWSGIServer)]
        self._in_loop(lambda: [wasyncore.dispatcher.close(listener) for listener in listeners], listeners)
        deadline = time.monotonic() + within
        idle = threading.Event()
        while self._busy() and not idle.wait(DRAIN_POLL_S):
            if time.monotonic() >= deadline:
                log.warning("stopping: requests still in flight after %.0fs; closing their connections", within)
                break
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
        self._in_loop(lambda: wasyncore.close_all(self._map), listeners)
        self._thread.join(1)

    def _busy(self) -> bool:
        """A request is being read, run or answered on some connection."""
        from waitress.channel import HTTPChannel  # type: ignore[import-untyped]

        channels = [obj for obj in list(self._map.values()) if isinstance(obj, HTTPChannel)]
        return any(c.requests or c.total_outbufs_len for c in channels)

    def _in_loop(self, thunk: Any, listeners: list[Any]) -> None:
        """Run `thunk` on the server's own thread (wasyncore is not thread-safe), or here if it is not running."""
        if self._thread.is_alive() and listeners:
            done = threading.Event()

            def run() -> None:
                try:
                    thunk()
                finally:
                    done.set()

            listeners[0].trigger.pull_trigger(run)
            done.wait(2)
        else:
            thunk()


def wait_for(stop: threading.Event) -> None:
    """Block the main thread until `stop` is set, waking every SIGNAL_POLL_S.

    A signal's Python handler runs on the main thread, and only once it runs bytecode. When the kernel hands
    SIGTERM to another thread (any of ours may take it), a main thread blocked in a plain `stop.wait()` is not
    interrupted and never runs the handler: the bot would ignore SIGTERM (seen as PID 1 in a test, and a
    rollout would wait out its grace period). Waking now and then lets the handler run."""
    while not stop.wait(SIGNAL_POLL_S):
        pass


@dataclass(frozen=True, slots=True)
class HttpTransport:
    listener: Listener

    def serve(self, bot: Bot, stop: threading.Event) -> None:
        self.listener.start(bot.http)
        log.info("opsbot listening on http://%s:%s%s", self.listener.host, self.listener.port, SLACK_PATH)
        try:
            wait_for(stop)
        finally:
            self.listener.stop()


@dataclass(frozen=True, slots=True)
class SocketModeTransport:
    app_token: SecretStr
    listener: Listener

    def serve(self, bot: Bot, stop: threading.Event) -> None:
        self.listener.start(bot.http)
        log.info("opsbot listening on http://%s:%s (alert receivers, /healthz, /readyz)", self.listener.host,
                 self.listener.port)
        handler = _socket_handler(bot, self.app_token.get_secret_value())
        try:
            handler.connect()
            if handler.client.is_connected():
                log.info("opsbot connected to Slack over Socket Mode")
            else:        # slack_sdk logs why and keeps trying to reconnect on its own
                log.warning("opsbot could not open the Socket Mode connection yet; it keeps retrying")
            wait_for(stop)
        finally:
            handler.close()
            self.listener.stop()


def _socket_handler(bot: Bot, app_token: str) -> Any:
    """Bolt's Socket Mode handler, answering each envelope under its own request id (its envelope_id), as the
    HTTP edge answers each request under one: log lines of the command's work after the ack carry it too."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.socket_mode.client import BaseSocketModeClient
    from slack_sdk.socket_mode.request import SocketModeRequest

    class Handler(SocketModeHandler):
        def handle(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:
            with logfmt.request(req.envelope_id):
                super().handle(client, req)  # type: ignore[arg-type]

    return Handler(bot.bolt, app_token)
