"""uv.lock, which `make demo`, `make test` and the image install from, matches pyproject.toml: checked by uv
itself with no network and no cache (`uv lock --check --offline`), and read here for what the tests rely on."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCKED = {pkg["name"]: pkg for pkg in LOCK["package"]}


def uv() -> Path:
    found = Path(sys.prefix) / "bin" / "uv"        # make puts the pinned uv into the venv
    if not found.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{found} missing: make installs uv into the venv before anything else")
        pytest.skip("uv is not in this venv (make installs it)")
    return found


def test_uv_says_the_lock_matches_pyproject(tmp_path):
    env = {**os.environ, "UV_NO_CACHE": "1", "UV_OFFLINE": "1", "UV_PYTHON_DOWNLOADS": "never"}
    done = subprocess.run([str(uv()), "lock", "--check", "--offline"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, f"uv.lock is out of date with pyproject.toml; run `make lock`:\n{done.stderr}"


def normalized(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_every_dependency_is_locked_and_exact_pins_hold():
    extras = PROJECT["optional-dependencies"]
    for line in [*PROJECT["dependencies"], *extras["dev"], *extras["lint"]]:
        req = Requirement(line)
        locked = LOCKED.get(normalized(req.name))
        assert locked is not None, f"{req.name} is not in uv.lock"
        assert req.specifier.contains(locked["version"]), f"{req.name}: locked {locked['version']}, wants {req}"


def test_every_locked_file_has_a_hash():
    for pkg in LOCK["package"]:
        if pkg["source"].get("editable") or pkg["source"].get("virtual"):
            continue                                # opsbot itself
        files = [*pkg.get("wheels", []), *([pkg["sdist"]] if "sdist" in pkg else [])]
        assert files and all(f.get("hash", "").startswith("sha256:") for f in files), pkg["name"]


def test_make_installs_from_the_lock_and_refuses_a_stale_one():
    makefile = (ROOT / "Makefile").read_text()
    sync = next(line for line in makefile.splitlines() if line.startswith("SYNC :="))
    assert "sync --locked" in sync                  # not --frozen: a lock pyproject.toml moved away from is refused
    assert "pip install" not in makefile.replace('pip install $(PIP_FLAGS) "uv==$(UV_VERSION)"', "")
