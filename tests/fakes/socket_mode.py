"""A fake Slack Socket Mode server on loopback, for `opsbot socket` and any slack_bolt `SocketModeHandler`.

Wiring, as with Slack: the app calls `apps.connections.open` with its xapp- token and opens the WebSocket URL
it gets back. Tell `FakeSlack` to answer with this fake's URL (`fake_slack.socket_url = fake_socket.url`) and
point the app's Web API client at `fake_slack.api_url`. Like Slack, the fake greets each connection with
`hello`, sends each envelope to the newest connection, and records every message the app sends back: the
acknowledgements `{"envelope_id": ..., "payload": {...}}` (payload only when the listener acked with one).

What slack_sdk's builtin client (slack_sdk/socket_mode/builtin) does on this wire, worth knowing in tests:
* It speaks plain ws:// to any port but 443 and wraps TLS only on 443, so `ws://127.0.0.1:<port>` works;
  but with HTTP(S)_PROXY set it tunnels even 127.0.0.1 through the proxy (it ignores NO_PROXY).
* It pings on connect and then every `ping_interval` (10 s from SocketModeHandler) and drops the connection
  as stale after 4 intervals without a pong; websockets answers those pings by itself.
* It never sends a close frame: `close()` just closes its socket, so the server sees the connection end
  abruptly (code 1006). On a close frame or a `disconnect` message from the server it reconnects, calling
  `apps.connections.open` again (at once on `disconnect`; after a closed socket, at its next ping check).
"""
from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from tests.slackreq import action_body, slash_body
from tests.waiting import wait_until


class FakeSocketMode:
    def __init__(self, *, app_id: str = "A111") -> None:
        self.app_id = app_id
        self.acks: list[dict[str, Any]] = []      # every message from the app, in order of arrival
        self.connections_opened = 0               # counts reconnects too
        self._open: list[ServerConnection] = []   # open connections, oldest first
        self._refreshing: ServerConnection | None = None   # told to reconnect: closed once its successor opens
        self._lock = threading.Lock()
        # close_timeout: the builtin client never answers a close frame, so do not wait 10 s for one.
        self._server = serve(self._serve, "127.0.0.1", 0, close_timeout=0.5,
                             logger=logging.getLogger("tests.fake_socket_mode"))
        port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/link/?ticket=fake-ticket&app_id={app_id}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-socket-mode", daemon=True)
        self._thread.start()

    def _serve(self, conn: ServerConnection) -> None:
        try:
            with self._lock:
                n = len(self._open) + 1
            conn.send(json.dumps({
                "type": "hello", "num_connections": n, "connection_info": {"app_id": self.app_id},
                "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
            }))
            with self._lock:
                self._open.append(conn)
                self.connections_opened += 1
                old, self._refreshing = self._refreshing, None
            if old is not None:
                old.close()              # as Slack does; it also frees the client's reader, stuck on it till then
            for text in conn:            # ends when the client closes, abruptly or not
                message = json.loads(text)
                with self._lock:
                    self.acks.append(message)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if conn in self._open:
                    self._open.remove(conn)

    @property
    def connected(self) -> bool:
        with self._lock:
            return bool(self._open)

    def wait_connected(self, timeout: float = 5.0, *, count: int = 1) -> None:
        """Wait until `count` connections have been opened in all (2 after one reconnect) and one is open."""
        wait_until(lambda: self.connections_opened >= count and self.connected, timeout=timeout,
                   what=f"{count} Socket Mode connection(s); saw {self.connections_opened}")

    def send(self, type_: str, payload: dict[str, Any], *, accepts_response_payload: bool,
             **extra: Any) -> str:
        """Send one envelope to the newest connection, as Slack does; return its envelope_id."""
        envelope_id = str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "payload": payload, "type": type_,
                    "accepts_response_payload": accepts_response_payload, **extra}
        self._newest().send(json.dumps(envelope))
        return envelope_id

    def send_slash_command(self, text: str, *, response_url: str, user: str = "U0ALICE",
                           channel: str = "C0ONCALL") -> str:
        """`/ops <text>`: the payload holds the same string fields as the HTTP form post."""
        form = slash_body(text, response_url=response_url, user=user, channel=channel)
        return self.send("slash_commands", dict(parse_qsl(form, keep_blank_values=True)),
                         accepts_response_payload=True)

    def send_block_action(self, action_id: str, value: str, *, response_url: str, user: str = "U0ALICE",
                          channel: str = "C0ONCALL", message_ts: str = "1700000000.000001") -> str:
        """A button click: the same block_actions payload as the HTTP post, as a JSON object."""
        form = action_body(action_id, value, response_url=response_url, user=user, channel=channel,
                           message_ts=message_ts)
        payload: dict[str, Any] = json.loads(parse_qs(form)["payload"][0])
        return self.send("interactive", payload, accepts_response_payload=False)

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to move to a new connection, as Slack does every few hours; the old one is closed
        when the new one opens (see `wait_connected(count=...)`)."""
        conn = self._newest()
        with self._lock:
            self._refreshing = conn
        conn.send(json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}))

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The app's acknowledgement of one envelope (Slack gives up after 3 s; tests may be slower)."""

        def acks() -> list[dict[str, Any]]:
            with self._lock:
                return [m for m in self.acks if m.get("envelope_id") == envelope_id]

        return wait_until(acks, timeout=timeout, what=f"ack of envelope {envelope_id}")[0]

    def _newest(self) -> ServerConnection:
        with self._lock:
            if not self._open:
                raise AssertionError("no Socket Mode client is connected")
            return self._open[-1]

    def close(self) -> None:
        """Close every connection (code 1001) and the server; returns once all handler threads are done."""
        self._server.shutdown()
        self._thread.join(timeout=5)
