"""A fake Slack Web API on loopback: records every call, answers like Slack, and can answer 429."""
from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.waiting import wait_until


@dataclass(frozen=True)
class Call:
    name: str                 # "chat.postMessage", or the path for response_url posts ("/response/cmd-1")
    body: dict[str, Any]
    headers: dict[str, str]
    at: float                 # time.monotonic() when received
    status: int = 200         # what the fake answered (429 when rate-limiting)


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._limits: dict[str, list[int]] = {}     # name -> [remaining 429 answers, retry_after]
        self.socket_url: str | None = None            # set to a FakeSocketMode's url to answer apps.connections.open
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                body = fake._parse(raw)
                path = urlparse(self.path).path
                name = path[5:] if path.startswith("/api/") else path
                status, payload, headers = fake._answer(name, body, self.headers.get("Authorization", ""))
                with fake._lock:
                    fake.calls.append(Call(name, body, dict(self.headers), time.monotonic(), status))
                data = json.dumps(payload).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json; charset=utf-8", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api_url = self.url + "/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @staticmethod
    def _parse(raw: str) -> dict[str, Any]:
        if raw.lstrip().startswith("{"):
            body: dict[str, Any] = json.loads(raw)
        else:
            body = {k: v[0] for k, v in parse_qs(raw).items()}
        for key in ("blocks", "attachments"):
            if isinstance(body.get(key), str):
                body[key] = json.loads(body[key])
        return body

    def rate_limit(self, name: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls to `name` with HTTP 429 and `Retry-After`."""
        self._limits[name] = [times, retry_after]

    def _answer(self, name: str, body: dict[str, Any], auth: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        limit = self._limits.get(name)
        if limit and limit[0] > 0:
            limit[0] -= 1
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(limit[1])}
        if name == "auth.test":
            return 200, {"ok": True, "team_id": "T111", "user_id": "UBOT", "bot_id": "BBOT", "user": "opsbot",
                         "team": "Test", "url": "https://test.slack.com/"}, {}
        if name == "chat.postMessage":
            if str(body.get("channel", "")).startswith("CPRIVATE"):
                return 200, {"ok": False, "error": "not_in_channel"}, {}
            return 200, {"ok": True, "channel": body.get("channel"), "ts": f"1700000000.{next(self._ts):06d}"}, {}
        if name == "apps.connections.open" and self.socket_url is not None:
            if not auth.startswith("Bearer xapp-"):    # Slack wants the app-level token here, not the bot's
                return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
            return 200, {"ok": True, "url": self.socket_url}, {}
        if name == "chat.update":
            return 200, {"ok": True, "channel": body.get("channel"), "ts": body.get("ts")}, {}
        return 200, {"ok": True}, {}

    def named(self, name: str, *, ok_only: bool = False) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.name == name and (c.status == 200 or not ok_only)]

    def wait_for(self, predicate: str | Callable[[Call], bool], *, n: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until `n` calls match (a name, or a predicate); fail with what was seen at the deadline."""
        match = (lambda c: c.name == predicate) if isinstance(predicate, str) else predicate

        def found() -> list[Call]:
            with self._lock:
                calls = [c for c in self.calls if match(c)]
            return calls if len(calls) >= n else []

        return wait_until(found, timeout=timeout,
                          what=f"{n} call(s) matching {predicate!r}; saw {[c.name for c in self.calls]}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
