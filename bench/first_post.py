"""Webhook -> first Slack call: from POSTing one alert to `/alerts/webhook` until its card's chat.postMessage
reaches a fake Slack, median and p95 over N alerts posted one after another (each a new alert, so each posts
a card), on SQLite and (when reachable) PostgreSQL.

opsbot runs as `opsbot serve` would: `build_bot`'s WSGI app under waitress, with its background workers. The
floor, measured in the same run: a bare waitress app that calls the fake Slack (chat.postMessage with the
same slack_sdk client opsbot uses) synchronously inside each POST.
Usage: `python bench/first_post.py [N]` (default 50).
"""
from __future__ import annotations

import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from pgschema import postgres_schema  # noqa: E402 (bench/ is on sys.path first)
from summary import record  # noqa: E402

from bot.app import build_bot  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.transports import Listener  # noqa: E402
from tests.fakes.fake_slack import FakeSlack  # noqa: E402

TOKEN = "bench-token"
CONFIG = {"channels": {"alerts": "C0BENCH"},
          "alerts": {"webhook": {"token_env": "OPSBOT_BENCH_TOKEN"}, "storm_threshold": 100_000,
                     "channel_interval": "1ms"}}      # one channel, one alert at a time: pacing is not measured
POLL_S = 0.0005
BOUND_MS = 50.0


@contextmanager
def served(app: Any) -> Iterator[str]:
    """`app` under waitress as `opsbot serve` runs it (bot.transports.Listener)."""
    server = Listener("127.0.0.1", 0)
    server.start(app)
    try:
        yield f"http://127.0.0.1:{server.port}/alerts/webhook"
    finally:
        server.stop()


def measure(fake: FakeSlack, url: str, n: int) -> list[float]:
    """Seconds from each POST to the first chat.postMessage naming its alert, for `n` alerts in turn."""
    took = []
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
        for i in range(-3, n):                          # three to warm up, not counted
            title = f"bench alert {uuid.uuid4().hex[:12]}"
            seen = len(fake.calls)
            started = time.monotonic()
            status = client.post(url, json={"source": "bench", "dedup_key": title, "title": title,
                                            "severity": "warning"}).status_code
            if status >= 300:
                raise SystemExit(f"POST answered {status}")
            arrived = _wait_post(fake, seen, title)
            if i >= 0:
                took.append(arrived - started)
    return took


def _wait_post(fake: FakeSlack, seen: int, title: str) -> float:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for call in fake.calls[seen:]:
            if call.name == "chat.postMessage" and title in str(call.body.get("text")):
                return call.at
        time.sleep(POLL_S)
    raise SystemExit(f"no chat.postMessage for {title!r} within 30 s")


def floor_app(fake: FakeSlack) -> Callable[..., Any]:
    """A bare WSGI app: read the alert, call Slack synchronously, answer 202."""
    import json

    from bot.slack.client import web_client  # the same Slack client opsbot uses

    client = web_client(Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-floor", "SLACK_API_URL": fake.api_url}))

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        client.chat_postMessage(channel="C0FLOOR", text=json.loads(body)["title"])
        start_response("202 Accepted", [("Content-Type", "application/json"), ("Content-Length", "2")])
        return [b"{}"]

    return app


def opsbot(db_url: str, n: int) -> list[float]:
    fake = FakeSlack()
    os.environ["OPSBOT_BENCH_TOKEN"] = TOKEN
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": "s",
                                  "SLACK_API_URL": fake.api_url, "DATABASE_URL": db_url})
    bot = build_bot(settings, parse_config(CONFIG))
    stop = threading.Event()
    workers = [threading.Thread(target=work, args=(stop,), daemon=True) for _, work in bot.workers]
    for worker in workers:
        worker.start()
    try:
        with served(bot.http) as url:
            return measure(fake, url, n)
    finally:
        stop.set()
        for worker in workers:
            worker.join(10)
        bot.rt.engine.dispose()
        fake.close()


def floor(n: int) -> list[float]:
    fake = FakeSlack()
    try:
        with served(floor_app(fake)) as url:
            return measure(fake, url, n)
    finally:
        fake.close()


def row(name: str, took: list[float], base: list[float] | None) -> str:
    med, p95 = statistics.median(took) * 1000, statistics.quantiles(took, n=20)[18] * 1000
    ratio = "" if base is None else (f"  ({med / (statistics.median(base) * 1000):4.1f}x the floor's median, "
                                     f"{p95 / (statistics.quantiles(base, n=20)[18] * 1000):4.1f}x its p95)")
    if base is not None:
        base_med, base_p95 = statistics.median(base) * 1000, statistics.quantiles(base, n=20)[18] * 1000
        record(f"{name}, webhook -> first Slack call, {len(took)} alerts", f"median {med:.1f} ms, p95 {p95:.1f} ms",
               peer=f"bare waitress -> Slack: median {base_med:.1f} ms, p95 {base_p95:.1f} ms",
               bound=f"<= {BOUND_MS:.0f} ms (median and p95)", met=p95 <= BOUND_MS)   # absolute: no ratio
    return f"{name:<36} median {med:6.1f} ms   p95 {p95:6.1f} ms{ratio}"


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    print(f"webhook -> first Slack call, {n} alerts one after another (bound: {BOUND_MS:.0f} ms)")
    base = floor(n)
    print(row("floor: bare waitress -> Slack", base, None))
    with tempfile.TemporaryDirectory() as tmp:
        print(row("opsbot serve, SQLite", opsbot(f"sqlite:///{tmp}/bench.db", n), base))
    with postgres_schema() as pg:
        if pg is not None:
            print(row("opsbot serve, PostgreSQL", opsbot(pg, n), base))


if __name__ == "__main__":
    main()
