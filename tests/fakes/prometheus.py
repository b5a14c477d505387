"""A Prometheus HTTP API on loopback that answers instant queries (`/api/v1/query`) for kubelet volume stats
from series a test sets, as `max by (persistentvolumeclaim) (<metric>{namespace="<ns>"})` would; `broken`
makes it answer 503 as a Prometheus that is starting or overloaded does."""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

QUERY = re.compile(r'^max by \(persistentvolumeclaim\) \((\w+)\{namespace="([^"]+)"\}\)$')


class FakePrometheus:
    def __init__(self) -> None:
        self.series: dict[tuple[str, str, str], float] = {}      # (metric, namespace, claim) -> value
        self.queries: list[str] = []
        self.broken = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                query = parse_qs(url.query).get("query", [""])[0]
                fake.queries.append(query)
                status, body = fake.answer(url.path, query)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def volume(self, ns: str, claim: str, *, used: float, capacity: float) -> None:
        self.series["kubelet_volume_stats_used_bytes", ns, claim] = used
        self.series["kubelet_volume_stats_capacity_bytes", ns, claim] = capacity

    def answer(self, path: str, query: str) -> tuple[int, dict[str, object]]:
        if self.broken:
            return 503, {"status": "error", "errorType": "unavailable", "error": "Service Unavailable"}
        match = QUERY.match(query)
        if path != "/api/v1/query" or match is None:
            return 400, {"status": "error", "errorType": "bad_data", "error": f"unexpected query {query!r}"}
        metric, ns = match.groups()
        result = [{"metric": {"persistentvolumeclaim": claim}, "value": [1764000000.0, repr(value)]}
                  for (m, n, claim), value in self.series.items() if (m, n) == (metric, ns)]
        return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
