"""A loopback HTTP server that records every request (method, path, query, headers, body) and answers by path:

    /ok        200 {"queued": true}
    /echo      200, the request's headers and body echoed back as JSON (so a secret comes back in the answer)
    /fail      500 {"error": "retrain already running"}
    /slow?s=N  200 after N seconds
    /guarded   200 {"status": "ok"} only with the header `apikey: <self.apikey>`, else 401
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class RecordingHttp:
    def __init__(self, apikey: str = "") -> None:
        self.requests: list[Request] = []
        self.apikey = apikey
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                url = urlparse(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append(Request(self.command, url.path, parse_qs(url.query), headers, body))
                status, answer = server.answer(url.path, parse_qs(url.query), headers, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer(self, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if path == "/ok":
            return 200, b'{"queued": true}'
        if path == "/echo":
            return 200, json.dumps({"headers": headers, "body": body.decode()}).encode()
        if path == "/fail":
            return 500, b'{"error": "retrain already running"}'
        if path == "/slow":
            time.sleep(float(query.get("s", ["1"])[0]))
            return 200, b"{}"
        if path == "/guarded":
            ok = bool(self.apikey) and headers.get("apikey") == self.apikey
            return (200, b'{"status": "ok"}') if ok else (401, b'{"message": "Invalid API key"}')
        return 404, b"{}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
