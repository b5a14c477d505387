"""Idle resident memory (RSS) of `opsbot serve` on the example configs, next to floors measured in the same run.

Each row is a fresh process on loopback: `python -m bot serve --port 0` against a fake Slack Web API (in this
process), SQLite in a temporary directory brought to the newest schema first by `opsbot db upgrade` (the
deployment's init step: a replica then starts on a database at head and never loads Alembic), and for
the AWS + Kubernetes example dummy AWS credentials and a generated kubeconfig whose `prod` context points at
https://127.0.0.1:1 (nothing is contacted at idle; clients are only configured). A row is read once the
process logged "listening on http://...", GET /readyz answered 200 and VmRSS stayed within 0.1 MiB for 1 s;
RSS and peak are VmRSS and VmHWM from /proc/<pid>/status, in MiB. opsbot's own packages are compiled to
bytecode first, as the image's are (UV_COMPILE_BYTECODE) and as `make` does for the venv's packages: a process
that compiles its modules at import holds about 6 MiB more, and with PYTHONDONTWRITEBYTECODE set every start
would.

Floors: "bare Bolt" is a slack_bolt `App` (auth.test answered by the fake) behind
`slack_bolt.adapter.wsgi.SlackRequestHandler` on waitress with the same 16 threads as serve; "fixed stack" is
that app plus what the product card fixes besides Bolt, and nothing of opsbot's: one SQLAlchemy ORM model on
SQLite and one pydantic model validated; "bare python" is the same interpreter sleeping. "x Bolt" is RSS over
the bare-Bolt floor. Targets are where the idle RSS should get to; this prints, it does not gate (exit 1 only
when a process could not be measured).

Usage: `python bench/idle_rss.py [--json] [--env NAME=VALUE ...]` from the project root; `--env` is set for
every measured process (e.g. `--env MALLOC_ARENA_MAX=2`). Linux only (reads /proc).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from summary import record  # noqa: E402 (bench/ is on sys.path first)

from tests.fakes.fake_slack import FakeSlack  # noqa: E402

STARTUP_S = 60.0          # spawn -> "listening on" and /readyz 200
SETTLE_S = 20.0           # then VmRSS must hold still for STABLE_S within this
STABLE_S = 1.0
STABLE_KIB = 100          # "still": max - min over the last STABLE_S
POLL_S = 0.1
STOP_S = 5.0              # SIGTERM -> SIGKILL
SERVE_THREADS = 16        # waitress threads in bot.http.serve, used for the bare-Bolt floor too
LISTENING = re.compile(r"listening on http://([\w.\-]+):(\d+)")
IDLE = re.compile(r"^idle$", re.MULTILINE)



@dataclass(frozen=True)
class Case:
    config: str               # a file in examples/
    target_mib: float
    cloud: bool               # needs the AWS and Kubernetes environment


CASES = [Case("demo.yaml", 60.0, cloud=False), Case("aws-and-kubernetes.yaml", 90.0, cloud=True)]

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: prod
  user: {token: bench}
contexts:
- name: prod
  context: {cluster: prod, user: prod}
current-context: prod
"""

BARE_BOLT = f"""\
import os, sys
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from waitress import create_server

app = App(client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
          signing_secret=os.environ["SLACK_SIGNING_SECRET"])
slack = SlackRequestHandler(app)

def wsgi(environ, start_response):
    if environ.get("PATH_INFO") == "/readyz":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    return slack(environ, start_response)

server = create_server(wsgi, host="127.0.0.1", port=0, threads={SERVE_THREADS})
print(f"bare bolt listening on http://127.0.0.1:{{server.effective_port}}", file=sys.stderr, flush=True)
server.run()
"""

FIXED_STACK = BARE_BOLT.replace("server = create_server", """
from datetime import datetime
import pydantic, yaml
from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

class Base(DeclarativeBase):
    pass

class Row(Base):
    __tablename__ = "rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]

class Settings(pydantic.BaseModel):
    name: str
    every: int = 5

engine = create_engine("sqlite:///" + os.environ["BENCH_DB"])
Base.metadata.create_all(engine)
with Session(engine) as session:
    session.get(Row, 1)
Settings.model_validate(yaml.safe_load("name: x"))
server = create_server""", 1)

BARE_PYTHON = "import time; print('idle', flush=True); time.sleep(600)"


class MeasureError(Exception):
    """The process did not start, answer or hold still in time; str() says which, with its log's tail."""


@dataclass
class Row:
    name: str
    rss_mib: float | None = None
    peak_mib: float | None = None
    threads: int | None = None
    target_mib: float | None = None
    x_bolt: float | None = None
    settled: bool = False
    error: str | None = None
    detail: dict[str, int] = field(default_factory=dict)    # the /proc status fields read, in kB


def proc_status(pid: int) -> dict[str, int]:
    """The numeric fields of /proc/<pid>/status that matter here (kB, except Threads)."""
    wanted = {"VmRSS", "VmHWM", "RssAnon", "RssFile", "VmSize", "Threads"}
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in wanted:
                out[key] = int(value.split()[0])
    return out


def _http_200(url: str, timeout: float) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))      # loopback: never a proxy
    try:
        with opener.open(url, timeout=timeout) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_S)


def _wait_ready(proc: subprocess.Popen[bytes], log: Path, marker: re.Pattern[str], probe: bool) -> None:
    deadline = time.monotonic() + STARTUP_S
    url: str | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise MeasureError(f"exited with {proc.returncode} before it was ready:\n{_tail(log)}")
        if url is None:
            found = marker.search(log.read_text(errors="replace"))
            if found and not probe:
                return
            if found:
                url = f"http://{found.group(1)}:{found.group(2)}/readyz"
        if url is not None and _http_200(url, timeout=min(2.0, max(0.1, deadline - time.monotonic()))):
            return
        time.sleep(POLL_S)
    raise MeasureError(f"not ready within {STARTUP_S:.0f}s ({'no /readyz 200' if url else 'no ready line'}):\n"
                       f"{_tail(log)}")


def _settle(pid: int) -> bool:
    """Wait until VmRSS holds still for STABLE_S; False if SETTLE_S passed first."""
    deadline = time.monotonic() + SETTLE_S
    window: deque[tuple[float, int]] = deque()
    while time.monotonic() < deadline:
        now, rss = time.monotonic(), proc_status(pid)["VmRSS"]
        window.append((now, rss))
        while window and window[0][0] < now - STABLE_S:
            window.popleft()
        values = [v for _, v in window]
        if now - window[0][0] >= STABLE_S - POLL_S and max(values) - min(values) <= STABLE_KIB:
            return True
        time.sleep(POLL_S)
    return False


def measure(name: str, argv: list[str], env: dict[str, str], workdir: Path, *,
            marker: re.Pattern[str] = LISTENING, probe: bool = True) -> Row:
    log = workdir / f"{re.sub(r'[^A-Za-z0-9]+', '-', name)}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        _wait_ready(proc, log, marker, probe)
        settled = _settle(proc.pid)
        status = proc_status(proc.pid)
        if proc.poll() is not None:
            raise MeasureError(f"exited with {proc.returncode} while settling:\n{_tail(log)}")
    except (MeasureError, OSError) as exc:
        return Row(name, error=str(exc))
    finally:
        _stop(proc)
    return Row(name, rss_mib=status["VmRSS"] / 1024, peak_mib=status["VmHWM"] / 1024,
               threads=status["Threads"], settled=settled, detail=status)


def base_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment minus anything that could point a process at a real Slack, database, cloud,
    cluster or proxy; plus `extra` (--env)."""
    drop = re.compile(r"^(SLACK_|AWS_|KUBE|OPSBOT_|DATABASE_URL$|APP_DATABASE_URL$|PG|.*_PROXY$)", re.IGNORECASE)
    env = {k: v for k, v in os.environ.items() if not drop.match(k)}
    env.update(NO_PROXY="127.0.0.1,localhost", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def slack_env(fake: FakeSlack, extra: Mapping[str, str]) -> dict[str, str]:
    env = base_env(extra)
    env.update(SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET="bench", SLACK_API_URL=fake.api_url)
    return env


def serve_env(fake: FakeSlack, workdir: Path, case: Case, extra: Mapping[str, str]) -> dict[str, str]:
    env = slack_env(fake, extra)
    env.update(DATABASE_URL=f"sqlite:///{workdir}/bench.db", OPSBOT_CONFIG=str(ROOT / "examples" / case.config))
    if case.cloud:
        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_text(KUBECONFIG)
        env.update(AWS_ACCESS_KEY_ID="AKIABENCH", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                   AWS_ENDPOINT_URL="http://127.0.0.1:1", AWS_EC2_METADATA_DISABLED="true",
                   AWS_CONFIG_FILE=str(workdir / "no-aws-config"),
                   AWS_SHARED_CREDENTIALS_FILE=str(workdir / "no-aws-credentials"),
                   KUBECONFIG=str(kubeconfig))
    return env


def clear_of_schedules() -> None:
    """Every schedule in the example configs fires on the hour. A serve process alive at that moment would
    not be idle (and the AWS example's checklist calls api.example.com), so no measurement starts within 90 s
    of it."""
    now = datetime.now(UTC)
    next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if (next_hour - now).total_seconds() < 90:
        wait = (next_hour - now).total_seconds() + 5
        print(f"(waiting {wait:.0f}s: a scheduled slot is due on the hour)", file=sys.stderr)
        time.sleep(wait)


def run(extra: Mapping[str, str]) -> list[Row]:
    fake = FakeSlack()
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory(prefix="opsbot-idle-rss-") as tmp:
            floors = Path(tmp, "floors")
            floors.mkdir()
            bolt = measure("floor: bare Bolt", [sys.executable, "-c", BARE_BOLT], slack_env(fake, extra), floors)
            rows.append(bolt)
            rows.append(measure("floor: fixed stack", [sys.executable, "-c", FIXED_STACK],
                                {**slack_env(fake, extra), "BENCH_DB": str(floors / "fixed.db")}, floors))
            rows.append(measure("floor: bare python", [sys.executable, "-c", BARE_PYTHON], base_env(extra), floors,
                                marker=IDLE, probe=False))
            for case in CASES:
                workdir = Path(tmp, case.config)
                workdir.mkdir()
                clear_of_schedules()
                env = serve_env(fake, workdir, case, extra)
                subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                               capture_output=True, timeout=120)
                row = measure(f"serve {case.config}", [sys.executable, "-m", "bot", "serve", "--port", "0"],
                              env, workdir)
                row.target_mib = case.target_mib
                rows.append(row)
            for row in rows:
                if row.rss_mib is not None and bolt.rss_mib:
                    row.x_bolt = row.rss_mib / bolt.rss_mib
    finally:
        fake.close()
    return rows


def table(rows: list[Row]) -> str:
    def num(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines = [f"{'process':<32} {'RSS MB':>7} {'peak MB':>8} {'threads':>7} {'x Bolt':>7} {'target MB':>9}"]
    for r in rows:
        if r.error:
            lines.append(f"{r.name:<32} FAILED")
            continue
        note = "" if r.settled else f"  (RSS still moving after {SETTLE_S:.0f}s)"
        lines.append(f"{r.name:<32} {num(r.rss_mib, '.1f'):>7} {num(r.peak_mib, '.1f'):>8} {r.threads or 0:>7} "
                     f"{num(r.x_bolt, '.2f'):>7} {num(r.target_mib, '.0f'):>9}{note}")
    for r in rows:
        if r.error:
            lines.append(f"\n{r.name}: {r.error}")
    return "\n".join(lines)


def summarize(rows: list[Row]) -> None:
    """Each `serve` row beside the floors, for bench/run.py (nothing unless OPSBOT_BENCH_SUMMARY is set)."""
    floors = [r for r in rows if r.name.startswith("floor: ")]
    peer = ", ".join(f"{r.name.removeprefix('floor: ')} " + (f"{r.rss_mib:.1f} MiB" if r.rss_mib else "failed")
                     for r in floors if "python" not in r.name)
    for r in rows:
        if r.error:
            lines = [line.strip() for line in r.error.splitlines() if line.strip()] or ["?"]
            why = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
            record(f"idle {r.name}", f"failed: {why}", peer=peer)
        elif r.target_mib is not None and r.rss_mib is not None:
            still = "" if r.settled else f", still moving after {SETTLE_S:.0f}s"
            record(f"idle {r.name}", f"{r.rss_mib:.1f} MiB (peak {r.peak_mib or 0:.1f}{still})", peer=peer,
                   ratio=r.x_bolt, bound=f"<= {r.target_mib:.0f} MiB (target)", met=r.rss_mib <= r.target_mib)


def _terminated(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)          # unwinds through measure()'s finally: children are stopped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="set for every measured process (repeatable), e.g. MALLOC_ARENA_MAX=2")
    args = parser.parse_args()
    extra: dict[str, str] = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--env wants NAME=VALUE, not {item!r}")
        extra[name] = value
    signal.signal(signal.SIGTERM, _terminated)
    import compileall

    for package in ("bot", "commands", "integrations", "schedules"):
        compileall.compile_dir(str(ROOT / package), quiet=1)
    rows = run(extra)
    if args.json:
        print(json.dumps({"rows": [asdict(r) for r in rows], "env": extra}, indent=2))
    else:
        print(table(rows))
    summarize(rows)
    return 1 if any(r.error for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
