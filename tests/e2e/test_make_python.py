"""`make demo` / `make test` on the wrong Python: a clear line saying what to do, and a .venv made by an older
Python is made again instead of being reused (no install is run here: the fakes stop it before pip)."""
import os
import subprocess
from pathlib import Path

from tests.e2e.conftest import ROOT

OLD_PYTHON = """#!/bin/sh
# A Python 3.10 as far as the Makefile can tell: it says its version, and fails the version check.
if [ "$1" = "-V" ]; then echo "Python 3.10.12"; exit 0; fi
exit 1
"""


def fake_python(path: Path) -> Path:
    path.write_text(OLD_PYTHON)
    path.chmod(0o755)
    return path


def make(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_python_too_old_is_named_with_the_fix(tmp_path):
    old = fake_python(tmp_path / "python3")
    done = make("install", f"PYTHON={old}", f"VENV={tmp_path / 'venv'}")
    assert done.returncode != 0
    assert f"opsbot needs Python 3.11 or newer, and {old} is Python 3.10.12." in done.stderr
    assert "make install PYTHON=python3.11" in done.stderr
    assert not (tmp_path / "venv").exists()
    assert "Traceback" not in done.stderr


def test_a_venv_made_by_an_older_python_is_made_again(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake_python(venv / "bin" / "python")
    old = fake_python(tmp_path / "python3")                    # and the Python at hand is no better
    done = make("install", f"PYTHON={old}", f"VENV={venv}")
    assert f"opsbot: {venv} was made with Python 3.10.12; making it again" in done.stderr
    assert not venv.exists()                                   # removed, not reused
    assert done.returncode != 0 and "opsbot needs Python 3.11 or newer" in done.stderr
