"""Local HTTP endpoints for `make demo`: real servers for `/ops status` to check, on 127.0.0.1:18481."""
from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROUTES = {
    "/api/health": (200, {"status": "healthy", "database": "connected", "version": "1.4.2"}),
    "/payments/health": (200, {"status": "healthy", "database": "disconnected", "queue": "connected"}),
    "/search/health": (503, {"status": "unhealthy", "reason": "no shards available"}),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        status, doc = ROUTES.get(self.path, (404, {"error": "not found"}))
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


DEFAULT_PORT = 18481


def start(port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    import threading

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PORT
    print(f"demo targets on http://127.0.0.1:{port}", file=sys.stderr)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
