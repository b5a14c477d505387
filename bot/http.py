"""`opsbot serve`: one WSGI app — Slack on POST /slack/events, liveness on /healthz, readiness on /readyz."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy.exc import SQLAlchemyError

from bot.runtime import Runtime
from bot.storage.db import ping

log = logging.getLogger(__name__)
SLACK_PATH = "/slack/events"
StartResponse = Callable[..., Any]


def _json(start_response: StartResponse, status: str, payload: dict[str, Any]) -> Iterable[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def make_wsgi_app(rt: Runtime, bolt: App) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    slack = SlackRequestHandler(bolt, path=SLACK_PATH)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == SLACK_PATH:
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "POST only"})
            return slack(environ, start_response)
        if path == "/healthz":
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == "/readyz":
            try:
                ping(rt.engine)
            except SQLAlchemyError as exc:
                log.warning("readiness: database unreachable (%s)", type(exc).__name__)
                return _json(start_response, "503 Service Unavailable", {"status": "database unreachable"})
            return _json(start_response, "200 OK", {"status": "ready"})
        return _json(start_response, "404 Not Found", {"error": f"no route for {path[:100]}"})

    return app


def serve(rt: Runtime, bolt: App, *, host: str, port: int) -> None:
    from waitress import create_server  # type: ignore[import-untyped]

    server = create_server(make_wsgi_app(rt, bolt), host=host, port=port, threads=16, ident="opsbot")
    actual = getattr(server, "effective_port", port)
    log.info("opsbot listening on http://%s:%s%s", host, actual, SLACK_PATH)
    try:
        server.run()
    except KeyboardInterrupt:
        log.info("opsbot stopping")
    finally:
        server.close()
