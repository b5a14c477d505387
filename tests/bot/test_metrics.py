"""GET /metrics: counters move as alerts, commands, checklists and Slack calls happen; each bot has its own
registry; a scrape with the database down still answers 200."""
from __future__ import annotations

import io
import json
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bot.alerts.receive import Receivers
from bot.http import make_wsgi_app
from bot.metrics import Metrics
from bot.slack.board import SlackBoard
from bot.slack.client import web_client
from bot.storage import db
from tests.alerts.workers import outbox

HOOK_TOKEN = "hook-token-5c1e7"
CONFIG = {"channels": {"alerts": "C0ALERTS"}, "alerts": {"webhook": {"token_env": "OPSBOT_TEST_HOOK"}}}


def call(app: Any, method: str, path: str, body: bytes = b"", **headers: str) -> tuple[str, bytes]:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body), **{f"HTTP_{k.upper()}": v for k, v in headers.items()}}
    answered: list[str] = []
    out = b"".join(app(environ, lambda status, headers, *exc: answered.append(status)))
    return answered[0], out


def scrape(app: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = call(app, "GET", "/metrics")
    assert status == "200 OK"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def bot_http(rt: Any) -> Any:
    receivers = Receivers(rt.alerts, environ={"OPSBOT_TEST_HOOK": HOOK_TOKEN})
    rt.metrics.watch_outbox(rt.sessions, rt.clock)
    return make_wsgi_app(rt.engine, receivers, metrics=rt.metrics)


def post_alerts(app: Any, items: list[dict[str, Any]], token: str = HOOK_TOKEN) -> str:
    status, _ = call(app, "POST", "/alerts/webhook", json.dumps(items).encode(), AUTHORIZATION=f"Bearer {token}")
    return status


def test_alerts_count_received_deduplicated_rejected_refused_and_the_outbox(make_runtime, fake_slack):
    rt = make_runtime(CONFIG, fake=fake_slack)
    app = bot_http(rt)
    before = scrape(app)
    assert value(before, "opsbot_outbox_pending") == 0 and value(before, "opsbot_database_up") == 1
    firing = {"dedup_key": "disk-full", "title": "Disk full on db-1"}
    assert post_alerts(app, [firing, {"title": "no key"}]) == "202 Accepted"
    assert post_alerts(app, [firing, {"title": "no key"}]) == "202 Accepted"   # the sender's retry
    assert post_alerts(app, [firing], token="wrong") == "401 Unauthorized"
    after = scrape(app)
    assert value(after, "opsbot_alerts_received_total", receiver="webhook") == 1
    assert value(after, "opsbot_alerts_deduplicated_total", receiver="webhook") == 1
    assert value(after, "opsbot_alerts_rejected_total", receiver="webhook", reason="missing_field") == 2
    assert value(after, "opsbot_alert_deliveries_refused_total", receiver="webhook", status="401") == 1
    assert value(after, "opsbot_outbox_pending") >= 1
    assert value(after, "opsbot_http_requests_total", route="alerts/webhook", status="2xx") == 2
    assert value(after, "opsbot_http_requests_total", route="alerts/webhook", status="4xx") == 1

    rt.clock.advance(seconds=30)
    assert value(scrape(app), "opsbot_outbox_oldest_pending_age_seconds") >= 30
    board = SlackBoard(web_client(rt.settings, metrics=rt.metrics), rt.sessions, rt.clock)
    fake_slack.rate_limit("chat.postMessage")
    ticks = [0.0]
    worker = outbox(rt, board=board, metrics=rt.metrics, interval_s=0, monotonic=lambda: ticks[0])
    assert worker.run_once() == 0                      # 429: the channel waits, nothing is delivered
    ticks[0] += 60
    rt.clock.advance(seconds=60)
    assert worker.run_once() == 1
    sent = scrape(app)
    assert value(sent, "opsbot_alerts_delivered_total") >= 1
    assert value(sent, "opsbot_slack_rate_limited_total", method="chat.postMessage") == 1
    assert value(sent, "opsbot_slack_api_calls_total", method="chat.postMessage", result="ok") >= 1
    assert value(sent, "opsbot_outbox_pending") == 0
    assert value(sent, "opsbot_outbox_oldest_pending_age_seconds") == 0


def test_commands_and_checklists_are_timed_and_counted(make_runtime, run_ops, health_targets):
    rt = make_runtime({"services": [{"name": "backend", "health": {"url": f"{health_targets.url}/unhealthy"}}],
                       "checklists": {"morning": {"checks": [{"check": "http", "service": "backend"}]}}})
    app = bot_http(rt)
    run_ops(rt, "help")
    run_ops(rt, "nonsense")
    run_ops(rt, "checklist run morning")
    samples = scrape(app)
    assert value(samples, "opsbot_command_duration_seconds_count", subcommand="help", outcome="ok") == 1
    assert sum(v for (name, labels), v in samples.items() if name == "opsbot_command_duration_seconds_count"
               and ("subcommand", "unknown") in labels) == 1             # a typo is one label, not one per typo
    assert value(samples, "opsbot_command_duration_seconds_count", subcommand="checklist", outcome="ok") == 1
    assert value(samples, "opsbot_checklist_runs_total", result="fail") == 1


def test_every_bot_has_its_own_registry(make_runtime):
    first, second = make_runtime(), make_runtime()
    first.metrics.checklist_runs.labels("ok").inc()
    assert value(scrape(bot_http(second)), "opsbot_checklist_runs_total", result="ok") == 0
    assert value(scrape(bot_http(first)), "opsbot_checklist_runs_total", result="ok") == 1


def test_a_scrape_with_the_database_down_answers_200_and_says_so(make_runtime):
    rt = make_runtime()
    down = db.make_engine("postgresql+psycopg://postgres@127.0.0.1:1/test")
    metrics = Metrics()
    metrics.watch_outbox(db.make_sessions(down), rt.clock)
    app = make_wsgi_app(down, Receivers(rt.alerts), metrics=metrics)
    samples = scrape(app)
    assert value(samples, "opsbot_database_up") == 0
    assert ("opsbot_outbox_pending", ()) not in samples
    assert call(app, "GET", "/readyz")[0].startswith("503")
    assert value(scrape(app), "opsbot_http_requests_total", route="metrics", status="2xx") == 1
    down.dispose()
