"""`opsbot serve`: one WSGI app — Slack on POST /slack/events, liveness on /healthz, readiness on /readyz."""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy.exc import SQLAlchemyError

from bot.alarms.receive import KINDS, MAX_BODY, Receivers
from bot.runtime import Runtime
from bot.storage.db import ping

log = logging.getLogger(__name__)
SLACK_PATH = "/slack/events"
StartResponse = Callable[..., Any]


def _json(start_response: StartResponse, status: str, payload: dict[str, Any]) -> Iterable[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _alerts(receivers: Receivers, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    kind = environ.get("PATH_INFO", "")[len("/alerts/"):]
    if kind not in KINDS:
        return _json(start_response, "404 Not Found", {"error": f"alert receivers: {', '.join(KINDS)}"})
    if environ.get("REQUEST_METHOD") != "POST":
        return _json(start_response, "405 Method Not Allowed", {"error": "POST only"})
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(min(length, MAX_BODY + 1)) if length else b""
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    status, payload = receivers.handle(kind, body, headers)
    return _json(start_response, f"{status} {HTTPStatus(status).phrase}", payload)


def make_wsgi_app(rt: Runtime, bolt: App, *, receivers: Receivers | None = None
                  ) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    slack = SlackRequestHandler(bolt, path=SLACK_PATH)
    alerts = receivers or Receivers(rt)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == SLACK_PATH:
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "POST only"})
            return slack(environ, start_response)
        if path.startswith("/alerts/"):
            return _alerts(alerts, environ, start_response)
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


def start_scheduler(rt: Runtime, stop: threading.Event) -> threading.Thread | None:
    """Scheduled checklists and reports, when any are configured (one replica leads; see schedules.scheduler)."""
    from bot.slack.client import web_client
    from bot.slack.publisher import SlackPublisher
    from schedules.scheduler import ScheduleRunner, job_specs

    scheduled = job_specs(rt.config)
    if not rt.config.scheduler.enabled or not scheduled:
        log.info("scheduler: %s", "disabled (scheduler.enabled: false)" if scheduled else "nothing scheduled")
        return None
    runner = ScheduleRunner(rt, SlackPublisher(web_client(rt.settings), stop=stop))
    thread = threading.Thread(target=runner.run_forever, args=(stop,), name="opsbot-scheduler", daemon=True)
    thread.start()
    return thread


def serve(rt: Runtime, bolt: App, *, host: str, port: int) -> None:
    from waitress import create_server  # type: ignore[import-untyped]

    from bot.slack.client import web_client
    from bot.slack.escalator import Escalator
    from bot.slack.outbox import Outbox

    stop = threading.Event()
    outbox = Outbox(rt, web_client(rt.settings, wait_out_rate_limits=False),
                    interval_s=rt.config.alerts.channel_interval.total_seconds())
    threading.Thread(target=outbox.run_forever, args=(stop,), name="opsbot-outbox", daemon=True).start()
    escalator = Escalator(rt, web_client(rt.settings))
    threading.Thread(target=escalator.run_forever, args=(stop,), name="opsbot-escalator", daemon=True).start()
    start_scheduler(rt, stop)
    app = make_wsgi_app(rt, bolt, receivers=Receivers(rt, on_stored=outbox.wake))
    server = create_server(app, host=host, port=port, threads=16, ident="opsbot")
    actual = getattr(server, "effective_port", port)
    log.info("opsbot listening on http://%s:%s%s", host, actual, SLACK_PATH)
    try:
        server.run()
    except KeyboardInterrupt:
        log.info("opsbot stopping")
    finally:
        stop.set()
        server.close()
