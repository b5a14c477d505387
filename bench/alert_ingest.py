"""Alert ingestion: alerts/s through POST /alerts/webhook and the time from a webhook to the first Slack call.

Runs the real WSGI app under waitress on loopback with a fake Slack, on SQLite and (when reachable) on
PostgreSQL. Usage: `python bench/alert_ingest.py [N] [KEYS]` (defaults 5000 alerts over 20 dedup keys).
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from bot.app import build_bot  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.fakes.fake_slack import FakeSlack  # noqa: E402

TOKEN = "bench-token"
CLIENTS = 16


def run(db_url: str, n: int, keys: int) -> None:
    from waitress import create_server

    fake = FakeSlack()
    os.environ["OPSBOT_BENCH_TOKEN"] = TOKEN
    config = parse_config({"channels": {"alerts": "C0BENCH"},
                           "alerts": {"webhook": {"token_env": "OPSBOT_BENCH_TOKEN"}}})
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": "s",
                                  "SLACK_API_URL": fake.api_url, "DATABASE_URL": db_url})
    bot = build_bot(settings, config)
    rt, outbox = bot.rt, bot.outbox
    stop = threading.Event()
    server = create_server(bot.http, host="127.0.0.1", port=0, threads=16)
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{server.effective_port}/alerts/webhook"
    threading.Thread(target=outbox.run_forever, args=(stop,), daemon=True).start()

    local = threading.local()

    def send(i: int) -> int:
        client = getattr(local, "client", None) or httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"})
        local.client = client
        body = {"source": "bench", "dedup_key": f"k{i % keys}", "title": f"bench alert {i % keys}",
                "severity": "warning"}
        return client.post(url, json=body, timeout=30).status_code

    started = time.monotonic()
    first = send(0)
    while not fake.calls or all(c.name == "auth.test" for c in fake.calls):
        time.sleep(0.001)
    to_first_slack = time.monotonic() - started
    t0 = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(send, range(1, n)))
    took = time.monotonic() - t0
    errors = sum(1 for s in [first, *statuses] if s >= 500)
    stop.set()
    server.close()
    fake.close()
    kind = db_url.split(":", 1)[0]
    print(f"{kind:<20} {n:>7} alerts over {keys} keys: {n / took:8.0f} alerts/s, "
          f"webhook -> first Slack call {to_first_slack * 1000:6.1f} ms, 5xx: {errors}")
    rt.engine.dispose()


def main() -> None:
    import logging

    logging.getLogger("waitress").setLevel(logging.ERROR)     # "Task queue depth" is the point of a storm
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    keys = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/bench.db", n, keys)
    pg = os.environ.get("OPSBOT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        from sqlalchemy import create_engine, text

        admin = create_engine(pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - a benchmark without PostgreSQL still reports SQLite
        print(f"postgresql: skipped ({type(exc).__name__})")
        return
    try:
        run(f"{pg}?options=-csearch_path%3D{schema}", n, keys)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
