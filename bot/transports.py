"""How Slack reaches the bot: over HTTP (`opsbot serve`) or over a Socket Mode WebSocket (`opsbot socket`).

Both serve the bot's HTTP app (alarm receivers, /healthz, /readyz) on a local port and return once the
stop event is set. Everything else, workers included, is the same `Bot` (see bot.app).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from pydantic import SecretStr

from bot.app import Bot
from bot.http import HttpServer
from bot.slack.bolt import SLACK_PATH

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HttpTransport:
    host: str
    port: int

    def serve(self, bot: Bot, stop: threading.Event) -> None:
        server = HttpServer(bot.http, self.host, self.port)
        port = server.start()
        log.info("opsbot listening on http://%s:%s%s", self.host, port, SLACK_PATH)
        try:
            stop.wait()
        finally:
            server.close()


@dataclass(frozen=True, slots=True)
class SocketModeTransport:
    app_token: SecretStr
    host: str
    port: int

    def serve(self, bot: Bot, stop: threading.Event) -> None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        server = HttpServer(bot.http, self.host, self.port)
        port = server.start()
        log.info("opsbot listening on http://%s:%s (alert receivers, /healthz, /readyz)", self.host, port)
        handler = SocketModeHandler(bot.bolt, self.app_token.get_secret_value())
        try:
            handler.connect()  # type: ignore[no-untyped-call]
            if handler.client.is_connected():
                log.info("opsbot connected to Slack over Socket Mode")
            else:        # slack_sdk logs why and keeps trying to reconnect on its own
                log.warning("opsbot could not open the Socket Mode connection yet; it keeps retrying")
            stop.wait()
        finally:
            handler.close()  # type: ignore[no-untyped-call]
            server.close()
