"""Alert ingestion over HTTP, beside Prometheus Alertmanager measured on the same loop in the same run.

1. Rate: batches of 500 alerts over 20 fingerprints (Alertmanager webhook format) posted to opsbot's
   POST /alerts/alertmanager, and the same alerts to Alertmanager's own POST /api/v2/alerts (Debian's
   `prometheus-alertmanager`, installed here if missing). Every batch differs (a content-hash receipt must
   not make a batch a redelivery). Bound: opsbot's rate >= Alertmanager's.
   Three interleaved runs of each; the medians are compared.
2. 500 distinct new critical alerts (incidents, escalation, outbox rows) in one batch: time to the 202, beside
   the 0.5 s bound and an empty batch's time (the floor: HTTP and parsing only).

opsbot runs in its own process (as Alertmanager does) with every worker of `opsbot serve` (outbox, escalator…)
and a fake Slack: the real WSGI app under waitress, on SQLite and on PostgreSQL (when reachable). The child
counts "database is locked" and ERROR log records: on SQLite a batch must hold the write lock briefly.
Usage: `python bench/alert_ingest.py [BATCHES]` (default 40 batches of 500 per database).
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pgschema import postgres_schema  # bench/ is on sys.path first
from summary import record

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

BATCH, KEYS, CLIENTS, DISTINCT_RUNS, ROUNDS = 500, 20, 8, 5, 3
BOUND_DISTINCT_S = 0.5
CONFIG = {"channels": {"alerts": "C0BENCH"},
          "alerts": {"routes": [{"match": {"severity": "P1"}, "channel": "C0PAGES"}],
                     "escalation": {"P1": {"steps": [{"after": "5m", "notify": "U0ONCALL"}]}}}}


def am_webhook(batch: int, alerts: list[dict[str, Any]]) -> bytes:
    """An Alertmanager webhook (version 4) body carrying `alerts` (postable alerts plus a fingerprint)."""
    return json.dumps({"version": "4", "status": "firing", "receiver": "opsbot", "groupKey": f"bench:{batch}",
                       "alerts": [{"status": "firing", "endsAt": "0001-01-01T00:00:00Z", **a} for a in alerts]
                       }).encode()


def storm_alerts(batch: int) -> list[dict[str, Any]]:
    return [{"labels": {"alertname": f"Bench{i % KEYS}", "severity": "warning", "service": "bench"},
             "annotations": {"summary": f"bench alert {i % KEYS}", "description": f"batch {batch}, alert {i}"},
             "startsAt": "2026-11-30T00:00:00Z", "generatorURL": "http://bench.invalid/graph",
             "fingerprint": f"{i % KEYS:016x}"} for i in range(BATCH)]


def distinct_alerts(run: int) -> list[dict[str, Any]]:
    return [{"labels": {"alertname": f"Distinct{run}_{i}", "severity": "critical", "service": f"svc{i % 7}"},
             "annotations": {"summary": f"distinct alert {i} of run {run}"}, "startsAt": "2026-11-30T00:00:00Z",
             "fingerprint": f"{run:04x}{i:012x}"} for i in range(BATCH)]


# ---- the opsbot process ----------------------------------------------------------------------------------

def _serve(db_url: str, conn: Any) -> None:
    """Child process: `opsbot serve`'s HTTP app and workers on `db_url`; sends its port, then its log counts."""
    import logging
    import threading

    from waitress import create_server

    from bot.app import build_bot
    from bot.config import parse_config
    from bot.http import HTTP_THREADS
    from bot.settings import Settings
    from tests.fakes.fake_slack import FakeSlack

    counts = {"locked": 0, "errors": 0}

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage() + (str(record.exc_info[1]) if record.exc_info else "")
            counts["locked"] += "database is locked" in text
            counts["errors"] += record.levelno >= logging.ERROR

    logging.getLogger().addHandler(Count(logging.WARNING))
    logging.getLogger("waitress").setLevel(logging.ERROR)          # "Task queue depth" is the point of a storm
    fake = FakeSlack()
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": "s",
                                  "SLACK_API_URL": fake.api_url, "DATABASE_URL": db_url})
    bot = build_bot(settings, parse_config(CONFIG))
    stop = threading.Event()
    for name, work in bot.workers:
        threading.Thread(target=work, args=(stop,), name=name, daemon=True).start()
    server = create_server(bot.http, host="127.0.0.1", port=0, threads=HTTP_THREADS)
    threading.Thread(target=server.run, daemon=True).start()
    conn.send(server.effective_port)
    conn.recv()                                                       # the parent is done
    stop.set()
    conn.send(counts)                  # the process ends here, and the server with it
    fake.close()


@contextmanager
def opsbot(db_url: str) -> Iterator[tuple[str, dict[str, int]]]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(db_url, child), daemon=True)
    proc.start()
    counts: dict[str, int] = {}
    try:
        if not parent.poll(60):
            raise RuntimeError("opsbot did not start within 60 s")
        yield f"http://127.0.0.1:{parent.recv()}", counts
        parent.send("stop")
        if parent.poll(30):
            counts.update(parent.recv())
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()


# ---- Alertmanager ----------------------------------------------------------------------------------------

def _alertmanager_binary() -> str | None:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found is None and shutil.which("apt-get") is not None:
        subprocess.run(["apt-get", "install", "-y", "-q", "prometheus-alertmanager"], capture_output=True,
                       check=False, timeout=600)
        found = shutil.which("prometheus-alertmanager")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def alertmanager(tmp: str) -> Iterator[str | None]:
    """Alertmanager on loopback with a receiver that does nothing (its ingest only); None if unavailable."""
    binary = _alertmanager_binary()
    if binary is None:
        yield None
        return
    config = Path(tmp) / "alertmanager.yml"
    config.write_text('route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
    url = f"http://127.0.0.1:{_free_port()}"
    proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.path={tmp}/am",
                             "--cluster.listen-address=", f"--web.listen-address={url[7:]}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not _ready(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                yield None
                return
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# ---- measuring -------------------------------------------------------------------------------------------

def rate(url: str, bodies: list[bytes]) -> tuple[float, int]:
    """Alerts/s posting `bodies` (BATCH alerts each) from CLIENTS connections, and how many answers were 5xx."""
    clients = [httpx.Client(headers={"Content-Type": "application/json"}, timeout=60) for _ in range(CLIENTS)]

    def post(i: int) -> int:
        return clients[i % CLIENTS].post(url, content=bodies[i]).status_code

    post(0)                                                          # warm up: first connection, first batch
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(post, range(1, len(bodies))))
    took = time.perf_counter() - started
    for client in clients:
        client.close()
    return (len(bodies) - 1) * BATCH / took, sum(1 for s in statuses if s >= 500)


def timed(post: Callable[[], httpx.Response], *, stored: bool = True) -> float:
    """Seconds to the answer; a batch meant to be stored that is not says so."""
    started = time.perf_counter()
    response = post()
    took = time.perf_counter() - started
    if stored and response.status_code != 202:
        print(f"    (answered {response.status_code}, not 202: {response.text[:80]})")
    return took


def bench_db(name: str, db_url: str, batches: int, peer_rate: Callable[[], float | None]) -> None:
    with opsbot(db_url) as (base, counts):
        url = f"{base}/alerts/alertmanager"
        am_rates, ours, errors = [], [], 0
        for r in range(ROUNDS):             # interleaved: a change in the machine's load hits both alike
            am_rates.append(peer_rate())
            first = r * (batches + 1)
            measured, failed = rate(url, [am_webhook(b, storm_alerts(b)) for b in range(first, first + batches + 1)])
            ours.append(measured)
            errors += failed
        with httpx.Client(headers={"Content-Type": "application/json"}, timeout=60) as client:
            empty = [timed(lambda: client.post(url, content=am_webhook(-1, [])), stored=False)
                     for _ in range(DISTINCT_RUNS)]
            distinct = []
            for r in range(DISTINCT_RUNS):
                time.sleep(1.0)        # the outbox handles the previous batch's 500 cards; each batch meets a quiet bot
                body = am_webhook(-2 - r, distinct_alerts(r))
                distinct.append(timed(lambda: client.post(url, content=body)))  # noqa: B023 (called at once)
    alerts_per_s = statistics.median(ours)
    am_rate = statistics.median(r for r in am_rates if r) if all(am_rates) else None
    peer = f"Alertmanager {am_rate:8.0f}/s  ratio {alerts_per_s / am_rate:4.2f} (bound >= 1)" if am_rate else \
        "Alertmanager: skipped (see above)"
    print(f"{name:<10} {BATCH}-alert batches over {KEYS} fingerprints, median of {ROUNDS} interleaved runs: "
          f"opsbot {alerts_per_s:8.0f}/s  {peer}  5xx: {errors}")
    print(f"{name:<10} {BATCH} distinct new critical alerts in one batch: median {statistics.median(distinct):6.3f} s "
          f"(max {max(distinct):.3f}; bound {BOUND_DISTINCT_S} s; empty batch floor "
          f"{statistics.median(empty) * 1000:.1f} ms)")
    print(f"{name:<10} while ingesting: 'database is locked' records {counts.get('locked', '?')}, "
          f"ERROR records {counts.get('errors', '?')}")
    record(f"{name}: {BATCH}-alert batches over {KEYS} fingerprints (median of {ROUNDS} runs)",
           f"{alerts_per_s:,.0f} alerts/s; 5xx {errors}, 'database is locked' {counts.get('locked', '?')}, "
           f"ERROR {counts.get('errors', '?')}",
           peer=f"Alertmanager {am_rate:,.0f} alerts/s" if am_rate else _peer_missing(),
           ratio=alerts_per_s / am_rate if am_rate else None, bound=">= 1x Alertmanager's rate",
           met=alerts_per_s >= am_rate if am_rate else None)
    record(f"{name}: {BATCH} distinct new critical alerts in one batch, time to the 202 (median)",
           f"{statistics.median(distinct):.3f} s (max {max(distinct):.3f})",
           peer=f"empty batch {statistics.median(empty) * 1000:.1f} ms",
           bound=f"<= {BOUND_DISTINCT_S} s",                       # an absolute bound: no ratio
           met=statistics.median(distinct) <= BOUND_DISTINCT_S)


def _peer_missing() -> str:
    if shutil.which("prometheus-alertmanager") or shutil.which("alertmanager"):
        return "peer failed: prometheus-alertmanager did not start"
    return "peer missing: apt-get install prometheus-alertmanager"


def main() -> None:
    batches = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} (other work on the machine slows both opsbot and Alertmanager)")
    with tempfile.TemporaryDirectory() as tmp, alertmanager(tmp) as am:
        if am is None:
            print("Alertmanager: skipped: prometheus-alertmanager is not installed and could not be "
                  "(apt-get install -y prometheus-alertmanager), or it did not start")

        def peer() -> float | None:              # measured again beside each database: the machine is shared
            if am is None:
                return None
            return rate(f"{am}/api/v2/alerts", [json.dumps(storm_alerts(b)).encode() for b in range(batches + 1)])[0]

        bench_db("sqlite", f"sqlite:///{tmp}/bench.db", batches, peer)
        with postgres_schema() as url:
            if url is not None:
                bench_db("postgresql", url, batches, peer)


if __name__ == "__main__":
    main()
