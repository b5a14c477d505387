"""The first `make demo` on a fresh machine: how long its install takes with empty caches, beside plain pip
installing the very same locked files, measured in the same run.

Both start from a copy of the project's tracked files in a new directory, in a container-like environment:
a new empty HOME (no ~/.cache), PIP_NO_CACHE_DIR=1 and UV_NO_CACHE=1, no pip configuration file
(PIP_CONFIG_FILE=/dev/null: no local wheel folders or mirrors this machine may name), PATH and the
certificates only.
- opsbot: `echo "/ops help" | make demo` until it exits: the venv, the pinned uv, `uv sync --locked`, the demo
  world starting and one answer. It must print its progress line; the bound is 60 s (issue 14). And
  `make dev` from nothing, the install `make test` does first: bound 90 s.
- peer: a venv and `pip install --require-hashes --no-deps` of the same files (with the dev extra for the
  second row), exported from uv.lock, then opsbot itself: the install alone, as the lock would cost without uv.
It reaches PyPI (a bench, not a test). Prints; does not gate (exit 0 whatever the figures).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from summary import record  # bench/summary.py: this bench's rows for make bench's table

ROOT = Path(__file__).resolve().parents[1]
DEMO_BOUND_S = 60.0
TEST_BOUND_S = 90.0
PROGRESS = "opsbot: installing into"


def fresh_copy(into: Path) -> Path:
    """The tracked files as they are on disk (uncommitted edits included), nothing else: no .venv, no caches."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source, target = ROOT / name, into / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


def clean_env(home: Path) -> dict[str, str]:
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
           "PIP_NO_CACHE_DIR": "1", "UV_NO_CACHE": "1", "PIP_CONFIG_FILE": os.devnull,
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "HTTPS_PROXY", "https_proxy", "NO_PROXY"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def timed(cmd: list[str] | str, cwd: Path, env: dict[str, str], stdin: str = "",
          ) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
                          shell=isinstance(cmd, str), timeout=900)
    return time.monotonic() - started, done


def first_demo(work: Path) -> tuple[float, str]:
    """`echo "/ops help" | make demo`: the install, the demo world starting, one answer, the exit."""
    project = fresh_copy(work / "opsbot")
    seconds, done = timed(["make", "--no-print-directory", "demo"], project, clean_env(work / "home-make"),
                          stdin="/ops help\n")
    if done.returncode != 0 or "what I can do" not in done.stdout:
        raise SystemExit(f"make demo failed:\n{done.stdout}{done.stderr}")
    progress = [line for line in done.stderr.splitlines() if line.startswith("opsbot: install")]
    if not progress or PROGRESS not in progress[0]:
        raise SystemExit(f"make demo showed no progress line ({PROGRESS!r}):\n{done.stderr}")
    return seconds, " / ".join(progress)


def first_dev(work: Path) -> float:
    """`make dev` from nothing: the install `make test` does before its first test (runtime and dev extra)."""
    project = fresh_copy(work / "opsbot-dev")
    seconds, done = timed(["make", "--no-print-directory", "dev"], project, clean_env(work / "home-dev"))
    if done.returncode != 0:
        raise SystemExit(f"make dev failed:\n{done.stdout}{done.stderr}")
    return seconds


def pip_install(work: Path, uv: Path, name: str, extras: tuple[str, ...] = ()) -> float:
    project = fresh_copy(work / name)
    env = clean_env(work / f"home-{name}")
    wanted = [arg for extra in extras for arg in ("--extra", extra)]
    requirements = work / f"{name}.txt"
    exported = subprocess.run([str(uv), "export", "--frozen", "--no-emit-project", "--quiet", *wanted,
                               "-o", str(requirements)], cwd=project, env=env, capture_output=True, text=True)
    if exported.returncode != 0:
        raise SystemExit(f"uv export failed: {exported.stderr}")
    venv_python = project / ".venv" / "bin" / "python"
    steps = (f"{sys.executable} -m venv .venv && {venv_python} -m pip install --quiet --require-hashes --no-deps "
             f"-r {requirements} && {venv_python} -m pip install --quiet --no-deps -e .")
    seconds, done = timed(steps, project, env)
    if done.returncode != 0:
        raise SystemExit(f"pip install failed:\n{done.stderr}")
    return seconds


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="opsbot-first-install-") as tmp:
        work = Path(tmp)
        demo, progress = first_demo(work)
        uv = work / "opsbot" / ".venv" / "bin" / "uv"
        demo_peer = pip_install(work, uv, "pip-runtime")
        dev = first_dev(work)
        dev_peer = pip_install(work, uv, "pip-dev", ("dev",))
    rows = [("first `echo /ops help | make demo`, empty caches", demo, demo_peer, DEMO_BOUND_S),
            ("first `make dev` (make test's install), empty caches", dev, dev_peer, TEST_BOUND_S)]
    print(f"{'row':<54} {'seconds':>8} {'pip s':>6} {'x pip':>6}  bound")
    for row, ours, peer, bound in rows:
        print(f"{row:<54} {ours:>8.1f} {peer:>6.1f} {ours / peer:>6.2f}  <= {bound:.0f} s: "
              f"{'met' if ours <= bound else 'NOT met'}")
    print(f"progress shown: {progress}")
    for row, ours, peer, bound in rows:
        record(row, f"{ours:.1f} s", peer=f"pip, same locked files: {peer:.1f} s", ratio=ours / peer,
               bound=f"<= {bound:.0f} s", met=ours <= bound)

if __name__ == "__main__":
    main()
