"""POST /alerts/heartbeat/<name> over real HTTP: the bot's WSGI app under waitress on loopback, on both databases.
A beat needs the heartbeat's bearer token; every refusal is a 4xx with its reason, counted and logged at WARNING,
and records nothing. The curl one-liner of docs/alerts.md works as written."""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.alerts.heartbeat_http import HeartbeatReceiver
from bot.alerts.heartbeats import Heartbeats
from bot.alerts.receive import Receivers
from bot.alerts.service import Alerts
from bot.config import parse_config
from bot.http import make_wsgi_app
from bot.storage.db import make_engine, make_sessions
from tests.alerts.workers import escalator

ROOT = Path(__file__).parents[2]
TOKEN = "hb-t0ken-4711"
CONFIG: dict[str, Any] = {
    "alerts": {"webhook": {"token_env": "HOOK_TOKEN"}},
    "heartbeats": [{"name": "weather-monitor", "within": "26h", "token": {"secret": "HB_TOKEN"}},
                   {"name": "ml-training", "within": "1d"},                       # the webhook's token
                   {"name": "unset", "within": "1h", "token": {"secret": "NOBODY_SET_THIS"}}],
}
ENVIRON = {"HB_TOKEN": TOKEN, "HOOK_TOKEN": "hook-t0ken"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Served:
    def __init__(self, url: str, receivers: Receivers, beats: Heartbeats) -> None:
        self.url, self.receivers, self.beats = url, receivers, beats

    def post(self, name: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.url}/alerts/heartbeat/{name}", timeout=10, **kwargs)


@pytest.fixture
def served(make_runtime) -> Iterator[Served]:
    """The WSGI app `opsbot serve` runs, under waitress on a free loopback port."""
    from waitress import create_server

    rt = make_runtime(CONFIG)
    receivers = Receivers(rt.alerts, environ=ENVIRON)
    server = create_server(make_wsgi_app(rt.engine, receivers), host="127.0.0.1", port=0, threads=4,
                           asyncore_loop_timeout=0.05)          # stops within 50 ms, not 1 s
    stopping = threading.Event()

    def run() -> None:
        try:
            server.run()
        except OSError:                 # closing the sockets under the running select loop (see test_bad_alerts)
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=run, name="test-http", daemon=True)
    thread.start()
    yield Served(f"http://127.0.0.1:{server.effective_port}", receivers, Heartbeats(rt.sessions, rt.clock, rt.config))
    stopping.set()
    server.close()
    thread.join(5)


def documented_curl() -> str:
    """The one-liner docs/alerts.md gives for a beat."""
    docs = (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8")
    [line] = [ln.strip() for ln in docs.splitlines() if ln.strip().startswith("curl ") and "/alerts/heartbeat/" in ln]
    return line


def test_the_documented_curl_one_liner_records_a_beat(served):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    line = documented_curl().replace("https://opsbot.example.com", served.url)
    env = {**{k: v for k, v in os.environ.items() if "proxy" not in k.lower()}, "OPSBOT_HEARTBEAT_TOKEN": TOKEN}
    done = subprocess.run(["sh", "-c", line], capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["heartbeat"] == "weather-monitor" and answer["resolved"] == []
    assert served.beats.state("weather-monitor").beats == 1


def test_a_beat_answers_its_deadline_and_keeps_a_note(served, clock):
    response = served.post("weather-monitor", headers=AUTH, json={"note": "run 42: 1203 rows\x00"})
    assert response.status_code == 200
    assert response.json() == {"heartbeat": "weather-monitor", "beat_at": "2026-11-23T03:00:00+00:00",
                               "next_due": "2026-11-24T05:00:00+00:00", "resolved": []}
    state = served.beats.state("weather-monitor")
    assert (state.beats, state.last_beat_at, state.last_note) == (1, clock.now, "run 42: 1203 rows\ufffd")


@pytest.mark.parametrize("body", [b"hello", b"[1, 2]", b'{"note": ', "ü".encode("latin-1")])
def test_a_body_that_is_not_a_note_is_ignored_and_the_beat_counts(served, body):
    response = served.post("weather-monitor", headers=AUTH, content=body)
    assert response.status_code == 200 and "the body is not a JSON object" in response.json()["ignored"]
    assert served.beats.state("weather-monitor").beats == 1


def test_the_webhook_token_serves_a_heartbeat_without_its_own(served):
    assert served.post("ml-training", headers=AUTH).status_code == 401                # not weather-monitor's
    assert served.post("ml-training", headers={"Authorization": "Bearer hook-t0ken"}).status_code == 200


@pytest.mark.parametrize("name, method, headers, content, status, error", [
    ("weather-monitor", "POST", {}, b"", 401, "missing or wrong credentials (Authorization: Bearer <token>)"),
    ("weather-monitor", "POST", {"Authorization": "Bearer wrong"}, b"", 401, "missing or wrong credentials"),
    ("weather-monitor", "POST", {"Authorization": f"Basic {TOKEN}"}, b"", 401, "missing or wrong credentials"),
    ("weather-monitor", "POST", {"Authorization": "Bearer hook-t0ken"}, b"", 401, "missing or wrong credentials"),
    ("weather-monitor", "POST", {"Authorization": b"Bearer t\xf6ken"}, b"", 401, "missing or wrong credentials"),
    ("weather-monitr", "POST", AUTH, b"", 404, "no heartbeat named 'weather-monitr'"),
    ("", "POST", AUTH, b"", 404, "no heartbeat named ''"),
    ("weather-monitor/x", "POST", AUTH, b"", 404, "no heartbeat named 'weather-monitor/x'"),
    ("weather-monitor", "GET", AUTH, b"", 405, "POST only"),
    ("weather-monitor", "PUT", AUTH, b"", 405, "POST only"),
    ("weather-monitor", "POST", AUTH, b"x" * 4097, 413, "body larger than 4096 bytes"),
    ("unset", "POST", AUTH, b"", 403, "heartbeat 'unset' is not enabled: the bot has no token for it"),
])
def test_refusals_record_nothing_and_are_counted_and_logged(served, caplog, name, method, headers, content, status,
                                                            error):
    caplog.set_level(logging.WARNING, logger="bot.alerts.heartbeat_http")
    response = httpx.request(method, f"{served.url}/alerts/heartbeat/{name}", headers=headers, content=content,
                             timeout=10)
    assert response.status_code == status and response.json()["error"].startswith(error)
    if status == 405:
        assert response.headers["allow"] == "POST"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert served.receivers.refused.snapshot() == {("heartbeat", str(status)): 1}
    assert any(r.levelno == logging.WARNING and "refused a heartbeat" in r.getMessage() for r in caplog.records)
    assert TOKEN not in caplog.text
    assert all(served.beats.state(n) is None for n in ("weather-monitor", "unset"))


def test_a_beat_over_http_resolves_the_alert_its_silence_fired(served, make_runtime, clock):
    assert served.post("weather-monitor", headers=AUTH).status_code == 200
    clock.advance(hours=26)
    rt = make_runtime(CONFIG)
    escalator(rt).run_once()
    [live] = rt.alerts.live()
    assert live.title == "No heartbeat from weather-monitor in 26h"
    response = served.post("weather-monitor", headers=AUTH)
    assert (response.status_code, response.json()["resolved"]) == (200, [live.id])
    assert rt.alerts.live() == []             # ml-training never beat, but it is watched only from the first pass


@pytest.mark.parametrize("url", ["postgresql+psycopg://postgres@127.0.0.1:1/none", "sqlite:////nonexistent/dir/x.db"])
def test_only_an_unavailable_database_is_a_503(clock, url):
    engine = make_engine(url)
    try:
        receivers = Receivers(Alerts(make_sessions(engine), clock, parse_config(CONFIG)), environ=ENVIRON)
        answer = HeartbeatReceiver.beside(receivers).handle("weather-monitor", "POST", b"", AUTH)
        refused = HeartbeatReceiver.beside(receivers).handle("weather-monitor", "POST", b"", {})
    finally:
        engine.dispose()
    assert answer == (503, {"error": "heartbeat storage unavailable; retry later"})
    assert refused[0] == 401                                  # a bad token stays a 401 whatever the database


def test_the_cron_example_names_the_same_endpoint():
    docs = (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8")
    cron = [ln for ln in docs.splitlines() if re.match(r"^\d+ \d+ \* \* \* ", ln)]
    assert cron and all("/alerts/heartbeat/" in ln and "-X POST" in ln for ln in cron)
