"""Ack latency under bursts of signed slash commands, next to a bare Bolt App served the same way.

Every row is a server in its own process on loopback, hit by bursts of BURST signed `/ops` commands sent at
once (one thread and one connection each, as Slack sends them); a burst starts when the previous one's
answers have all reached the fake Slack, so no row is measured while the last one is still working. Rows take
turns burst by burst, so background load falls on all of them alike.

- bare Bolt: `App` with the same slack_bolt, signing secret, listener pool and waitress threads as opsbot;
  its listener acks and hands the work (answering on the response_url) to its own ThreadPoolExecutor.
- opsbot: `opsbot serve` itself (fake Slack as the Web API), `/ops help` and `/ops status`, on SQLite and on
  PostgreSQL (a schema of its own, dropped afterwards).

Prints p50/p99/max per row and each p99 as a ratio to the bare Bolt p99 of the same run. The bound
(issue 11): opsbot's p99 at most 1.5x the bare App's, and no ack past 3 s.
Usage: `python bench/ack_latency.py [BURSTS]` (default 20 measured bursts of 50 per row, after one warm-up).
"""
from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from pgschema import postgres_schema  # noqa: E402 (bench/ is on sys.path first)
from summary import record  # noqa: E402

from tests.fakes.fake_slack import FakeSlack  # noqa: E402
from tests.fakes.health_targets import HealthTargets  # noqa: E402
from tests.slackreq import SECRET, signed_headers, slash_body  # noqa: E402
from tests.waiting import wait_until  # noqa: E402

BURST = 50
BOUND = 1.5
ACK_LIMIT_S = 3.0


def serve_bare(slack_api_url: str) -> None:
    """The floor: a bare Bolt App under waitress that acks, then answers on the response_url from its pool."""
    from concurrent.futures import ThreadPoolExecutor

    from slack_bolt import Ack, App
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_sdk import WebClient
    from slack_sdk.webhook import WebhookClient
    from waitress import create_server  # type: ignore[import-untyped]

    from bot.http import HTTP_THREADS
    from bot.slack.bolt import LISTENER_THREADS, WORK_THREADS

    app = App(client=WebClient(token="xoxb-bench", base_url=slack_api_url), signing_secret=SECRET,
              listener_executor=ThreadPoolExecutor(LISTENER_THREADS))
    pool = ThreadPoolExecutor(WORK_THREADS)

    def answer(url: str) -> None:
        WebhookClient(url, timeout=10).send(response_type="ephemeral", text="done")

    @app.command("/ops")
    def ops(ack: Ack, body: dict[str, str]) -> None:
        ack()
        pool.submit(answer, body["response_url"])

    server = create_server(SlackRequestHandler(app), host="127.0.0.1", port=0, threads=HTTP_THREADS)
    print(f"listening on http://127.0.0.1:{server.effective_port}", file=sys.stderr, flush=True)
    server.run()


@dataclass
class Row:
    name: str
    url: str
    text: str
    fake: FakeSlack
    samples: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


def _launch(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, *args], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    deadline, seen = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen.append(line)
        if not line and proc.poll() is not None:
            break
        if match := re.search(r"listening on (http://[^\s/]+)", line):
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
            return proc, match.group(1)
    proc.kill()
    raise SystemExit(f"{' '.join(args)} did not start: {''.join(seen)[-2000:]}")


@contextmanager
def server(args: list[str], env: dict[str, str]) -> Iterator[str]:
    proc, url = _launch(args, env)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _env(fake: FakeSlack, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "OPSBOT_", "DATABASE_")) and "proxy" not in k.lower()}
    env.update({"PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost",
                "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.api_url,
                **extra})
    return env





def _post(url: str, body: str) -> tuple[float, int]:
    host, port = url.removeprefix("http://").split(":")
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("POST", "/slack/events", body=body.encode(), headers=signed_headers(body))
        resp = conn.getresponse()
        resp.read()
        return time.perf_counter() - started, resp.status
    except OSError:
        return time.perf_counter() - started, 599
    finally:
        conn.close()


def burst(row: Row, tag: str) -> None:
    """BURST signed commands released at once; returns when every one has been answered on its response_url."""
    bodies = [slash_body(row.text, response_url=f"{row.fake.url}/response/{tag}-{i}") for i in range(BURST)]
    gate = threading.Barrier(BURST)
    results: list[tuple[float, int]] = [(0.0, 0)] * BURST

    def one(i: int) -> None:
        gate.wait()
        results[i] = _post(row.url, bodies[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(BURST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    prefix = f"/response/{tag}-"
    wait_until(lambda: sum(1 for c in row.fake.calls if c.name.startswith(prefix)) >= BURST, timeout=60,
               what=f"{row.name}: every answer of burst {tag}")
    if not tag.startswith("warm"):
        row.samples.extend(r[0] for r in results)
        row.statuses.extend(r[1] for r in results)


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _typical_burst_p99(samples: list[float]) -> float:
    """The median over bursts of each burst's own p99: what a burst usually sees, whatever stalled one burst."""
    bursts = [samples[i:i + BURST] for i in range(0, len(samples), BURST)]
    return sorted(_pct(b, 0.99) for b in bursts)[len(bursts) // 2]


def report(rows: list[Row]) -> bool:
    floor, typical_floor = _pct(rows[0].samples, 0.99), _typical_burst_p99(rows[0].samples)
    print(f"{'row':<38} {'n':>5} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'p99 x bare':>10}"
          f" {'burst p99':>10} {'x bare':>7}  non-200")
    ok = True
    for row in rows:
        p99, worst, typical = _pct(row.samples, 0.99), max(row.samples), _typical_burst_p99(row.samples)
        bad = sum(1 for s in row.statuses if s != 200)
        within = row is rows[0] or (p99 / floor <= BOUND and worst <= ACK_LIMIT_S and not bad)
        ok &= within
        print(f"{row.name:<38} {len(row.samples):>5} {_pct(row.samples, 0.5) * 1000:>7.1f} {p99 * 1000:>7.1f} "
              f"{worst * 1000:>7.1f} {p99 / floor:>9.2f}x {typical * 1000:>10.1f} {typical / typical_floor:>6.2f}x"
              f"  {bad}{'' if within else '   <-- over the bound'}")
        if row is not rows[0]:
            record(f"{row.name}, bursts of {BURST}", f"p99 {p99 * 1000:.1f} ms (p50 "
                   f"{_pct(row.samples, 0.5) * 1000:.1f}, max {worst * 1000:.1f}, non-200 {bad}, n {len(row.samples)})",
                   peer=f"bare Bolt App p99 {floor * 1000:.1f} ms", ratio=p99 / floor,
                   bound=f"p99 <= {BOUND}x bare, no ack past {ACK_LIMIT_S:.0f} s, all 200", met=within)
    print(f"bound: p99 <= {BOUND}x the bare Bolt App's, no ack past {ACK_LIMIT_S:.0f} s, every answer 200. "
          "`burst p99`: the median burst's own p99 (one burst stalled by other load on the machine sets the "
          "overall p99)")
    return ok


def main() -> int:
    import logging

    logging.disable(logging.WARNING)
    bursts = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    fake, targets = FakeSlack(), HealthTargets()
    config = Path(tempfile.mkdtemp()) / "ops.yaml"
    config.write_text("services:\n" + "".join(
        f"  - {{name: svc{i}, health: {{url: '{targets.url}/healthy'}}}}\n" for i in range(3)))
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        rows = [Row("bare Bolt App (ack + own pool)", stack.enter_context(server(
            [__file__, "--bare", fake.api_url], _env(fake))), "help", fake)]
        databases = [("sqlite", f"sqlite:///{tmp}/bench.db")]
        pg = stack.enter_context(postgres_schema())
        if pg is not None:
            databases.append(("postgresql", pg))
        for kind, url in databases:
            bot = stack.enter_context(server(["-m", "bot", "serve", "--port", "0"], _env(
                fake, DATABASE_URL=url, OPSBOT_CONFIG=str(config))))
            rows += [Row(f"opsbot serve, {kind}, /ops {text}", bot, text, fake) for text in ("help", "status")]
        for row in rows:
            burst(row, f"warm-{id(row)}")
        for n in range(bursts):
            for i, row in enumerate(rows):
                burst(row, f"{n}-{i}")
        ok = report(rows)
    fake.close()
    targets.close()
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--bare":
        serve_bare(sys.argv[2])
    else:
        raise SystemExit(main())
