"""Run every benchmark under bench/, one at a time, and print ONE table of their figures at the end.

Which benches run: the BENCHES list below, in that order. To add one, add one line, e.g.
`Bench("first_install")` for bench/first_install.py (`quick=` gives its arguments under --quick). A listed
script that is not on disk gets a row saying so; the others still run. Helpers (pgschema.py, summary.py)
and this runner are not benches.

How a bench joins the table: it calls `summary.record(row, figure, peer=, ratio=, bound=, met=)` for each row
of its own printed table. The runner sets OPSBOT_BENCH_SUMMARY to a file of its own for each bench; record()
appends one JSON object per row there (and does nothing when the variable is unset, so every bench still runs
alone and prints what it always printed). A bench that crashes, times out or writes no rows still gets a row
saying so ("failed: <last line of its stderr>"); a missing peer (Alertmanager, PostgreSQL) is a row the bench
writes itself.

Each bench runs as its own process in its own session (so a timeout can stop its servers too), with the
runner's environment (OPSBOT_BENCH_POSTGRES_URL is the benches' PostgreSQL, see pgschema.py). Its output
(stdout and stderr) goes through to stderr as it runs; the table, headed by the date and the machine (CPU,
cores, memory, OS and kernel, Python, load average at start and end), goes to stdout. Benches print, they do
not gate: the exit status is 0 whatever the figures (130 when interrupted).

Usage: `python bench/run.py [--only NAME ...] [--quick] [--timeout SECONDS] [--script PATH ...]`
--quick passes each bench its smaller size (default sizes otherwise); --script runs the given scripts instead
of BENCHES (for tests of the runner).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from summary import SUMMARY_ENV  # noqa: E402

TIMEOUT_S = 1800.0          # per bench; the full-size fuzz is the longest, well under this
STOP_S = 15.0               # SIGTERM -> SIGKILL for a bench that timed out
COLUMNS = ("Bench", "Row", "Figure", "Same-run floor or peer", "Ratio", "Bound", "Met?")


@dataclass(frozen=True)
class Bench:
    name: str
    quick: tuple[str, ...] = ()         # its arguments under --quick
    path: Path | None = None            # default: bench/<name>.py

    @property
    def script(self) -> Path:
        return self.path or HERE / f"{self.name}.py"


BENCHES = [
    Bench("status_fanout"),
    Bench("alert_ingest", quick=("5",)),
    Bench("first_post", quick=("20",)),
    Bench("idle_rss"),
    Bench("ack_latency", quick=("3",)),
    Bench("fuzz", quick=("--inputs", "2000")),
    Bench("first_install"),
]


@dataclass
class Outcome:
    rc: int | None = None               # None: stopped after the timeout
    tail: deque[str] | None = None      # the last lines of its stderr
    traceback: bool = False


def row(bench: str, text: str, figure: str) -> dict[str, Any]:
    return {"bench": bench, "row": text, "figure": figure, "peer": "", "ratio": None, "bound": "", "met": None}


# ---- the machine -----------------------------------------------------------------------------------------

def _first(path: str, prefix: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(prefix)), None)
    except OSError:
        return None


def _os_name() -> str:
    try:
        release = dict(line.rstrip("\n").split("=", 1) for line in open("/etc/os-release", encoding="utf-8")
                       if "=" in line)
        return release.get("PRETTY_NAME", "").strip('"') or platform.system()
    except OSError:
        return platform.system()


def load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def machine() -> str:
    cpu = _first("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    mem = _first("/proc/meminfo", "MemTotal")
    memory = f"{int(mem.split()[0]) / 1024 / 1024:.1f} GiB" if mem else "memory ?"
    return (f"{cpu}, {os.cpu_count()} cores, {memory}, {_os_name()}, {platform.system()} {platform.release()} "
            f"{platform.machine()}, Python {platform.python_version()}")


# ---- running one bench -----------------------------------------------------------------------------------

def _pump(pipe: IO[str], outcome: Outcome, keep: bool) -> None:
    for line in pipe:
        sys.stderr.write(line)
        sys.stderr.flush()
        if keep and outcome.tail is not None:
            outcome.tail.append(line.rstrip("\n"))
            outcome.traceback |= line.startswith("Traceback (most recent call last)")


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the bench's whole session (its servers too), SIGKILL after STOP_S."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(STOP_S)
            return
        except subprocess.TimeoutExpired:
            continue


def execute(argv: list[str], env: dict[str, str], timeout: float) -> Outcome:
    outcome = Outcome(tail=deque(maxlen=40))
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [threading.Thread(target=_pump, args=(proc.stdout, outcome, False), daemon=True),
             threading.Thread(target=_pump, args=(proc.stderr, outcome, True), daemon=True)]
    for pump in pumps:
        pump.start()
    try:
        outcome.rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
    except KeyboardInterrupt:
        _stop(proc)
        raise
    for pump in pumps:
        pump.join(STOP_S)
    return outcome


def read_rows(bench: str, path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if not path.exists():
        return rows
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        try:
            entry = json.loads(line)
            rows.append({**row(bench, "?", "?"), **{k: v for k, v in entry.items() if v is not None}})
        except (ValueError, TypeError, AttributeError) as exc:
            rows.append(row(bench, f"summary line {number}", f"failed: unreadable ({type(exc).__name__})"))
    return rows


def _last_line(outcome: Outcome) -> str:
    lines = [line.strip() for line in outcome.tail or () if line.strip()]
    return lines[-1][:200] if lines else "(nothing on stderr)"


def failure(bench: Bench, outcome: Outcome, rows: list[dict[str, Any]], timeout: float) -> str | None:
    """Why the bench's rows are not the whole story, or None when they are. A nonzero exit is the bench's
    own verdict (ack_latency, fuzz and idle_rss exit 1 on a missed bound or a failed row) when one of its
    rows says so and nothing crashed."""
    if outcome.rc is None:
        return f"failed: no result within {timeout:.0f} s (stopped); last stderr: {_last_line(outcome)}"
    if outcome.rc == 0:
        return None if rows else "failed: exit 0 but no summary rows (does it call summary.record()?)"
    explained = any(r["met"] is False or str(r["figure"]).startswith("failed") for r in rows)
    if explained and not outcome.traceback:
        return None
    how = f"killed by signal {-outcome.rc}" if outcome.rc < 0 else f"exit {outcome.rc}"
    return f"failed ({how}): {_last_line(outcome)}"


def run_bench(bench: Bench, args: list[str], timeout: float, workdir: Path) -> list[dict[str, Any]]:
    if not bench.script.is_file():
        return [row(bench.name, "-", f"not run: {bench.script} is not on disk")]
    summary = workdir / f"{bench.name}.jsonl"
    env = {**os.environ, SUMMARY_ENV: str(summary), "PYTHONUNBUFFERED": "1"}
    print(f"\n==== {bench.name}: {' '.join([bench.script.name, *args])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    outcome = execute([sys.executable, str(bench.script), *args], env, timeout)
    rows = read_rows(bench.name, summary)
    why = failure(bench, outcome, rows, timeout)
    if why is not None:
        rows.append(row(bench.name, "the run", why))
    print(f"==== {bench.name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return rows


# ---- the table -------------------------------------------------------------------------------------------

def cells(entry: dict[str, Any]) -> list[str]:
    ratio = entry.get("ratio")
    met = {True: "yes", False: "no"}.get(entry.get("met"), "n/a")
    values = [entry.get("bench"), entry.get("row"), entry.get("figure"), entry.get("peer"),
              _ratio(ratio), entry.get("bound"), met]
    return [str(v or "-").replace("|", "\\|").replace("\n", " ") for v in values]


def _ratio(ratio: object) -> str:
    """Three decimals below 10x, so that 1.204x is not shown as 1.20x beside a bound of 1.2x and 'no'."""
    if not isinstance(ratio, int | float) or isinstance(ratio, bool):
        return "-"
    return f"{ratio:.3f}x" if abs(ratio) < 10 else f"{ratio:.1f}x"


def table(header: str, entries: Iterable[dict[str, Any]]) -> str:
    grid = [list(COLUMNS)] + [cells(e) for e in entries]
    widths = [max(len(r[i]) for r in grid) for i in range(len(COLUMNS))]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([header, "", line(grid[0]), rule, *(line(r) for r in grid[1:])])


# ---- main ------------------------------------------------------------------------------------------------

def chosen(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[Bench]:
    if args.script:
        return [Bench(Path(p).stem, path=Path(p).resolve()) for p in args.script]
    known = {b.name: b for b in BENCHES}
    unknown = [name for name in args.only or () if name not in known]
    if unknown:
        parser.error(f"no bench named {', '.join(unknown)}; the benches are: {', '.join(known)}")
    return [known[name] for name in args.only] if args.only else list(BENCHES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these benches only (names as in BENCHES)")
    parser.add_argument("--quick", action="store_true", help="each bench at its smaller size, where it has one")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, metavar="SECONDS", help="per bench")
    parser.add_argument("--script", action="append", metavar="PATH", help="run this script instead of BENCHES")
    args = parser.parse_args(argv)
    benches = chosen(args, parser)
    started, load_start, entries = time.time(), load(), []
    status = 0
    with tempfile.TemporaryDirectory(prefix="opsbot-bench-") as tmp:
        for bench in benches:
            try:
                entries += run_bench(bench, list(bench.quick) if args.quick else [], args.timeout, Path(tmp))
            except KeyboardInterrupt:
                entries.append(row(bench.name, "the run", "not finished: interrupted (Ctrl-C)"))
                status = 130
                break
    took = time.time() - started
    header = (f"Benchmarks {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}"
              f"{' (--quick)' if args.quick else ''}, {took / 60:.0f} min; machine: {machine()}; "
              f"load average (1/5/15 min) {load_start} at start, {load()} at end")
    print("\n" + table(header, entries), flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
