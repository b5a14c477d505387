"""The bot's HTTP side: one WSGI app — Slack on POST /slack/events (over HTTP only), the alarm receivers on
POST /alerts/{sns,alertmanager,webhook}, heartbeats on POST /alerts/heartbeat/<name>, liveness on /healthz,
readiness on /readyz, Prometheus metrics on /metrics (bot.metrics). (The server for it, waitress, is
bot.transports.Listener.) Every request is counted by route and status class, and what is logged while it is
answered carries its request id (the X-Request-Id header, or a new one; bot.logfmt).

Both transports serve it: `opsbot serve` with the Slack route, `opsbot socket` without it (Slack arrives over
the WebSocket; this port then needs no public exposure).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot import logfmt
from bot.alerts.heartbeat_http import HeartbeatReceiver
from bot.alerts.receive import KINDS, MAX_BODY, Receivers
from bot.metrics import CONTENT_TYPE, Metrics, status_class
from bot.storage.db import ping

log = logging.getLogger(__name__)
HTTP_THREADS = 16
# waitress buffers a whole body before the app sees it: past this it answers 413 itself (its default is 1 GB).
MAX_REQUEST_BODY = 2 * MAX_BODY
HEARTBEAT = "heartbeat/"                      # POST /alerts/heartbeat/<name> (bot.alerts.heartbeat_http)
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _json(start_response: StartResponse, status: str, payload: dict[str, Any],
          headers: Iterable[tuple[str, str]] = ()) -> Iterable[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers])
    return [body]


def _alerts(receivers: Receivers, beats: HeartbeatReceiver, environ: dict[str, Any],
            start_response: StartResponse) -> Iterable[bytes]:
    kind = environ.get("PATH_INFO", "")[len("/alerts/"):]
    if kind.startswith(HEARTBEAT):
        status, payload = beats.handle(kind[len(HEARTBEAT):], environ.get("REQUEST_METHOD", ""), _read_body(environ),
                                       request_headers(environ))
        extra = {405: [("Allow", "POST")], 401: [("WWW-Authenticate", 'Bearer realm="opsbot"')]}.get(status, [])
        return _json(start_response, f"{status} {HTTPStatus(status).phrase}", payload, extra)
    if kind not in KINDS:
        return _json(start_response, "404 Not Found",
                     {"error": f"alert receivers: {', '.join(KINDS)}, {HEARTBEAT}<name>"})
    if environ.get("REQUEST_METHOD") != "POST":
        return _json(start_response, "405 Method Not Allowed", {"error": "POST only"})
    body = _read_body(environ)
    headers = request_headers(environ)
    status, payload = receivers.handle(kind, body, headers)
    return _json(start_response, f"{status} {HTTPStatus(status).phrase}", payload)


def _read_body(environ: dict[str, Any]) -> bytes:
    """At most MAX_BODY + 1 bytes (one more than allowed, so the receiver can answer 413), whatever the
    Content-Length says; without one (or with a garbled one) the body is read up to that limit: waitress
    hands over the whole body, de-chunked and buffered."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        length = -1
    limit = length if 0 <= length <= MAX_BODY else MAX_BODY + 1
    data: bytes = environ["wsgi.input"].read(limit)
    return data


def request_headers(environ: dict[str, Any]) -> dict[str, str]:
    """A WSGI request's HTTP headers, by lower-case name."""
    return {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}


def _route(path: str, slack_path: str) -> str:
    """A bounded label for a path: its route, never what a client typed."""
    if path == slack_path and slack_path:
        return "slack"
    if path.startswith(f"/alerts/{HEARTBEAT}"):
        return "alerts/heartbeat"
    if path.startswith("/alerts/"):
        kind = path[len("/alerts/"):]
        return f"alerts/{kind}" if kind in KINDS else "alerts/other"
    return path[1:] if path in ("/healthz", "/readyz", "/metrics") else "other"


def make_wsgi_app(engine: Engine, receivers: Receivers, *, slack: tuple[str, WsgiApp] | None = None,
                  metrics: Metrics | None = None) -> WsgiApp:
    """The router; `slack` is (path, Bolt's WSGI handler) over HTTP, None in Socket Mode."""
    slack_path, slack_app = slack if slack is not None else ("", None)
    beats = HeartbeatReceiver.beside(receivers)
    metrics = metrics or Metrics()
    metrics.watch_receivers(receivers.received, receivers.duplicates, receivers.rejected, receivers.refused)
    counted = metrics.http_requests

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        route = _route(environ.get("PATH_INFO", ""), slack_path)

        def counting(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            counted.labels(route, status_class(status)).inc()
            return start_response(status, headers, *exc_info)

        with logfmt.request(environ.get("HTTP_X_REQUEST_ID")):
            return route_request(environ, counting)

    def route_request(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if slack_app is not None and path == slack_path:
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "POST only"})
            return slack_app(environ, start_response)
        if path.startswith("/alerts/"):
            return _alerts(receivers, beats, environ, start_response)
        if path == "/healthz":
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == "/readyz":
            try:
                ping(engine)
            except SQLAlchemyError as exc:
                log.warning("readiness: database unreachable (%s)", type(exc).__name__)
                return _json(start_response, "503 Service Unavailable", {"status": "database unreachable"})
            return _json(start_response, "200 OK", {"status": "ready"})
        if path == "/metrics":
            body = metrics.render()
            start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
            return [body]
        return _json(start_response, "404 Not Found", {"error": f"no route for {path[:100]}"})

    return app

