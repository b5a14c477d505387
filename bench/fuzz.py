"""A signed fuzz of `opsbot serve`: 10,000 inputs per database (SQLite, and PostgreSQL when reachable).

The inputs are tests/fuzzing.py's, over all five families: `/ops` commands and button clicks signed with
the Slack signing secret, the generic webhook with its bearer token, Alertmanager v4, and SNS notifications
signed with tests/fakes/sns.py's key (certificate served on loopback); Slack is the fake on loopback. Each
database gets a fresh `python -m bot serve --port 0` (after `opsbot db upgrade`), fed by 4 clients.

Per database it prints: answers by family and status, one input to replay per kind of 5xx (or no answer);
the process's ERROR records and tracebacks by logger and exception type; the audit rows written for the
attempts that must leave one; /healthz and /readyz at the end; and VmRSS after 1,000 inputs and after all of
them, with their ratio beside the bound (1.2x). RSS is read once the work behind the acks is done (every
attempt audited). One `/ops status` goes first (warm_up): boto3's one-time load is not growth.
Bounds: 0 5xx, 0 tracebacks, healthy, RSS ratio <= 1.2; exit 1 when one is missed.

Usage: `python bench/fuzz.py [--inputs N] [--seed S] [--clients C] [--db sqlite|postgres|both]`.
PostgreSQL: OPSBOT_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test), in a
throwaway schema.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from pgschema import postgres_schema  # bench/ is on sys.path first
from summary import record

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.fake_slack import FakeSlack  # noqa: E402
from tests.fakes.sns import FakeSns  # noqa: E402
from tests.fuzz_run import Tally, log_findings, send_all  # noqa: E402
from tests.fuzzing import CONFIG, TOKEN_ENV, WEBHOOK_TOKEN, Fuzzer  # noqa: E402
from tests.slackreq import SECRET, signed_headers, slash_body  # noqa: E402

RSS_BOUND = 1.2
EARLY = 1_000                       # the first RSS reading
CHECKPOINTS = (EARLY, 2_000, 5_000)
LISTENING = re.compile(r"listening on (http://[^\s/]+)")


@dataclass
class Run:
    db: str
    tally: Tally = field(default_factory=Tally)
    rss_kib: dict[int, int] = field(default_factory=dict)        # inputs sent -> VmRSS once their work was done
    audit: dict[str, tuple[int, int]] = field(default_factory=dict)     # family -> (attempts that must leave one, rows)
    health: tuple[int, int] = (0, 0)
    log: str = ""

    def ratio(self) -> float:
        return self.rss_kib[max(self.rss_kib)] / self.rss_kib[EARLY]

    def ok(self) -> bool:
        findings = log_findings(self.log)
        return (self.tally.server_errors() == 0 and not findings and "Traceback" not in self.log
                and self.health == (200, 200) and self.ratio() <= RSS_BOUND and self.audited())

    def audited(self) -> bool:
        """One row per command (each has its own trigger_id); at least one per well-formed click (a malformed
        one may leave a row too)."""
        commands, clicks = self.audit.get("command", (0, 0)), self.audit.get("button", (0, 0))
        return commands[0] == commands[1] and clicks[0] <= clicks[1]


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


@contextmanager
def serve(env: dict[str, str], log_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", "0"], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not (found := LISTENING.search(log_path.read_text(errors="replace"))):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"opsbot serve did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)
        yield proc, found.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


SOURCE = {"command": "slack", "button": "button"}          # audit_log.source of each family


@contextmanager
def audit_counter(db_url: str) -> Iterator[Callable[[str], int]]:
    from sqlalchemy import create_engine, func, select

    from bot.storage.models import AuditEntry

    engine = create_engine(db_url)

    def count(family: str) -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(AuditEntry.source == SOURCE[family])).scalar_one())

    try:
        yield count
    finally:
        engine.dispose()


def settled(tally: Tally, audit_rows: Callable[[str], int], timeout: float = 120) -> dict[str, tuple[int, int]]:
    """Wait until every attempt sent so far is audited (the work behind its ack is done); (expected, rows)."""
    deadline, out = time.monotonic() + timeout, {}
    for family, expected in tally.audited.items():
        while (rows := audit_rows(family)) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        out[family] = (expected, rows)
    return out


def fuzz(db: str, db_url: str, *, inputs: int, seed: int, clients: int, workdir: Path) -> Run:
    run, slack, sns = Run(db), FakeSlack(), FakeSns()
    config = workdir / "ops.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPSBOT_", "DATABASE_"))
           and "proxy" not in k.lower()}
    env.update(PYTHONUNBUFFERED="1", NO_PROXY="127.0.0.1,localhost", SLACK_BOT_TOKEN="xoxb-fuzz",
               SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack.api_url, DATABASE_URL=db_url,
               OPSBOT_CONFIG=str(config), **{TOKEN_ENV: WEBHOOK_TOKEN})
    log_path = workdir / f"{db}.log"
    try:
        with serve(env, log_path) as (proc, url), audit_counter(db_url) as audit_rows:
            warm_up(url, slack, run.tally, audit_rows)
            fuzzer, sent = Fuzzer(seed, sns=sns, response_url=f"{slack.url}/response"), 0
            for mark in sorted({*(c for c in CHECKPOINTS if c < inputs), inputs}):
                send_all(url, fuzzer.take(mark - sent), clients=clients, tally=run.tally)
                sent = mark
                run.audit = settled(run.tally, audit_rows)
                run.rss_kib[sent] = vm_rss_kib(proc.pid)
                print(f"  {db}: {sent:>6} inputs, RSS {run.rss_kib[sent] / 1024:7.1f} MiB", file=sys.stderr)
            codes = [httpx.get(url + p, timeout=10, trust_env=False).status_code for p in ("/healthz", "/readyz")]
            run.health = (codes[0], codes[1])
    finally:
        slack.close()
        sns.close()
    run.log = log_path.read_text(errors="replace")
    return run


def warm_up(url: str, slack: FakeSlack, tally: Tally, audit_rows: Callable[[str], int]) -> None:
    """One signed `/ops status` first, answered and audited: it loads boto3 (the config's CloudWatch alarms),
    which a bot loads once, on first use, for about 18 MiB. Without it, that one-time load lands between the
    first RSS reading and the last, wherever the seed puts the first status, and reads as growth."""
    body = slash_body("status", response_url=f"{slack.url}/response/warm-up")
    answer = httpx.post(f"{url}/slack/events", content=body, headers=signed_headers(body), timeout=10,
                        trust_env=False)
    answer.raise_for_status()
    tally.audited["command"] += 1
    settled(tally, audit_rows)


def report(run: Run) -> str:
    findings = log_findings(run.log)
    lines = [f"== {run.db}: {run.tally.sent} signed inputs",
             f"5xx or no answer: {run.tally.server_errors()}   tracebacks: {run.log.count('Traceback')}   "
             f"ERROR records: {sum(n for (level, _, _), n in findings.items() if level == 'ERROR')}",
             "audit rows: " + ", ".join(f"{rows} for {n} {family} attempts" for family, (n, rows) in run.audit.items())
             + f"   health at the end: /healthz {run.health[0]}, /readyz {run.health[1]}",
             f"RSS after {EARLY:,}: {run.rss_kib[EARLY] / 1024:.1f} MiB, after {max(run.rss_kib):,}: "
             f"{run.rss_kib[max(run.rss_kib)] / 1024:.1f} MiB, ratio {run.ratio():.2f}x (bound {RSS_BOUND}x)",
             "answers by family and status:", run.tally.report()]
    lines += ["log records at ERROR or with a traceback (count, level, logger, exception):"]
    lines += [f"  {n:>5} {level} {logger} {exc}" for (level, logger, exc), n in findings.most_common()]
    lines.append(f"verdict: {'OK' if run.ok() else 'MISSED'}")
    return "\n".join(lines)


def summarize(run: Run) -> None:
    """The run as one row for bench/run.py (nothing unless OPSBOT_BENCH_SUMMARY is set)."""
    errors = sum(n for (level, _, _), n in log_findings(run.log).items() if level == "ERROR")
    early, last = run.rss_kib[EARLY] / 1024, run.rss_kib[max(run.rss_kib)] / 1024
    record(f"{run.db}: {run.tally.sent:,} signed inputs",
           f"5xx {run.tally.server_errors()}, tracebacks {run.log.count('Traceback')}, ERROR {errors}, "
           f"audited {'yes' if run.audited() else 'NO'}, health {run.health[0]}/{run.health[1]}, "
           f"RSS {last:.1f} MiB", peer=f"RSS after {EARLY:,} inputs {early:.1f} MiB", ratio=run.ratio(),
           bound=f"0 5xx, 0 tracebacks or ERROR, healthy, audited, RSS <= {RSS_BOUND}x", met=run.ok())


@contextmanager
def database(db: str, workdir: Path) -> Iterator[str | None]:
    if db == "sqlite":
        yield f"sqlite:///{workdir}/fuzz.db"
        return
    with postgres_schema("fuzz") as url:
        yield url


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)          # unwinds through serve()'s finally: the bot is stopped too


def main() -> int:
    signal.signal(signal.SIGTERM, _terminated)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    if args.inputs <= EARLY:
        parser.error(f"--inputs must be more than {EARLY:,}: RSS is compared with the reading at {EARLY:,}")
    ok = True
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        with tempfile.TemporaryDirectory(prefix="opsbot-fuzz-") as tmp, database(db, Path(tmp)) as url:
            if url is None:
                continue
            run = fuzz(db, url, inputs=args.inputs, seed=args.seed, clients=args.clients, workdir=Path(tmp))
            print(report(run), flush=True)
            summarize(run)
            ok = ok and run.ok()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
