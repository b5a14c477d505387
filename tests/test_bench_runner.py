"""bench/run.py against tiny fake benches (never the real ones): one table with every bench's rows, a failure
as a row of its own, and the date and the machine above it."""
from __future__ import annotations

import platform
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parents[1]
RUNNER = ROOT / "bench" / "run.py"

GOOD = f"""\
import sys
sys.path.insert(0, {str(ROOT / "bench")!r})
from summary import record
print("good's own table, as it prints alone")
record("fast path", "12.0 ms", peer="floor 10.0 ms", ratio=1.2, bound="<= 1.5x", met=True)
record("slow path", "123.5 ms", peer="floor 10.0 ms", ratio=12.345, bound="<= 1.5x", met=False)
record("PostgreSQL rows", "not run: PostgreSQL unreachable")
"""

BAD = """\
import sys
print("bad starts")
raise SystemExit("could not reach the fake: connection refused")
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUNNER), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)


def scripts(tmp_path: Path) -> list[str]:
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "bad.py").write_text(BAD)
    return ["--script", str(tmp_path / "good.py"), "--script", str(tmp_path / "bad.py"),
            "--script", str(tmp_path / "gone.py")]


def table_rows(stdout: str) -> dict[tuple[str, str], list[str]]:
    """(bench, row) -> the row's cells, from the Markdown table on stdout."""
    rows = [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in stdout.splitlines()
            if line.startswith("| ")]
    assert rows[0] == ["Bench", "Row", "Figure", "Same-run floor or peer", "Ratio", "Bound", "Met?"]
    return {(r[0], r[1]): r for r in rows[1:]}


def test_one_table_with_every_bench_its_failures_and_the_machine(tmp_path: Path) -> None:
    done = run(*scripts(tmp_path))

    assert done.returncode == 0, done.stderr
    rows = table_rows(done.stdout)
    assert rows[("good", "fast path")] == ["good", "fast path", "12.0 ms", "floor 10.0 ms", "1.200x", "<= 1.5x", "yes"]
    assert rows[("good", "slow path")][4:] == ["12.3x", "<= 1.5x", "no"]
    assert rows[("good", "PostgreSQL rows")][2:] == ["not run: PostgreSQL unreachable", "-", "-", "-", "n/a"]
    assert rows[("bad", "the run")][2] == "failed (exit 1): could not reach the fake: connection refused"
    assert rows[("gone", "-")][2].startswith("not run:") and "gone.py is not on disk" in rows[("gone", "-")][2]
    assert len(rows) == 5
    header = done.stdout.strip().splitlines()[0]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", header)
    assert f"{platform.python_version()}" in header and "cores" in header and "GiB" in header
    assert re.search(r"load average \(1/5/15 min\) [\d./]+ at start, [\d./]+ at end", header)
    assert "good's own table" in done.stderr and "bad starts" in done.stderr     # their own output goes through
    assert "good's own table" not in done.stdout


def test_a_bench_that_hangs_is_stopped_and_reported(tmp_path: Path) -> None:
    hang = tmp_path / "hang.py"
    hang.write_text(textwrap.dedent("""\
        import sys, threading
        print("waiting forever", file=sys.stderr, flush=True)
        threading.Event().wait()
        """))

    done = run("--script", str(hang), "--timeout", "1")

    assert done.returncode == 0, done.stderr
    assert table_rows(done.stdout)[("hang", "the run")][2] == \
        "failed: no result within 1 s (stopped); last stderr: waiting forever"


def test_an_unknown_bench_name_is_answered_with_the_known_ones() -> None:
    done = run("--only", "status_fanot")

    assert done.returncode == 2
    assert "no bench named status_fanot; the benches are: status_fanout, alert_ingest" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bench_run_alone_prints_as_before_and_writes_no_summary(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(GOOD)

    done = subprocess.run([sys.executable, str(tmp_path / "good.py")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=30, check=False, env={"PATH": "/usr/bin:/bin"})

    assert done.returncode == 0, done.stderr
    assert done.stdout == "good's own table, as it prints alone\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.py"]
