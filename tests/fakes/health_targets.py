"""Real HTTP endpoints on loopback for health checks: healthy, degraded, failing, slow, redirected and garbage
answers."""
from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ROUTES: dict[str, tuple[int, bytes]] = {
    "/healthy": (200, json.dumps({"status": "healthy", "database": "connected"}).encode()),
    "/degraded": (200, json.dumps({"status": "healthy", "database": "disconnected"}).encode()),
    "/unhealthy": (503, json.dumps({"status": "unhealthy", "reason": "no shards"}).encode()),
    "/plain": (200, b"OK"),
    "/teapot": (418, b"I'm a teapot"),
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128      # the listen() backlog: the default 5 drops bursts of concurrent checks

    def handle_error(self, request: object, client_address: object) -> None:
        """A checker that gave up (its timeout) closes the connection before a slow answer: that is expected."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class HealthTargets:
    """`/slow?s=1.0` answers healthy after that many seconds: the target is slow, not the test."""

    def __init__(self) -> None:
        self.hits = 0
        targets = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                targets.hits += 1
                url = urlparse(self.path)
                if url.path == "/moved":              # where a service answers its old health path
                    self.send_response(302)
                    self.send_header("Location", "/healthy")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if url.path == "/slow":
                    time.sleep(float(parse_qs(url.query).get("s", ["1"])[0]))
                    status, body = ROUTES["/healthy"]
                else:
                    status, body = ROUTES.get(url.path, (404, b"{}"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
