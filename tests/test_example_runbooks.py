"""Our users' five runbooks as opsbot configs (examples/runbooks/): each is accepted by `opsbot config check`,
Parker Flight's scripted actions have stand-ins that behave like the team's scripts and change nothing, and
docs/runbooks.md adds up (its summary counts what its step tables say)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bot.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "runbooks"
SCRIPTS = ROOT / "examples" / "scripts"
DOC = ROOT / "docs" / "runbooks.md"
RUNBOOKS = ("flight-schedule-pro", "flight-rescheduler", "flight-search-saas", "awning-management", "parker-flight")
STEPS = 227                     # the steps of the five runbooks (the runbook review of 2026-11-30)
SECRET = "anon-7Qx93kLm2Zp"     # a secret the stand-ins are given and must never print
VERDICTS = ("yes", "partly", "no")


def test_there_is_one_example_per_runbook():
    assert sorted(p.stem for p in EXAMPLES.glob("*.yaml")) == sorted(RUNBOOKS)


@pytest.mark.parametrize("name", RUNBOOKS)
def test_config_check_accepts_the_example(name, capsys):
    path = EXAMPLES / f"{name}.yaml"
    code = main(["config", "check", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith(f"{path}: OK")


def _parker() -> dict:
    return yaml.safe_load((EXAMPLES / "parker-flight.yaml").read_text(encoding="utf-8"))


def test_every_parker_flight_script_has_a_stand_in():
    config = _parker()
    scripts = {a["command"][1] for a in config["actions"] if a.get("command", [""])[0] == "node"}
    assert scripts == {"scripts/deploy-production.js", "scripts/rollback-production.js", "scripts/load-test.js",
                       "scripts/setup-monitoring.js"}
    for script in scripts:
        assert (SCRIPTS / Path(script).with_suffix(".py").name).is_file(), script
    rollback = config["services"][0]["rollback"]["action"]
    assert rollback in {a["name"] for a in config["actions"]}


def _stand_in(tmp_path: Path, script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a stand-in as an action runs it: an argv list (no shell), a working directory, only the given env."""
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1", "STANDIN_DELAY": "0",
               "SUPABASE_URL": "https://bbonngdyfyfjqfhvoljl.supabase.co", "SUPABASE_ANON_KEY": SECRET} | env
    done = subprocess.run([sys.executable, str(SCRIPTS / script), *args], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=30, check=False)
    assert SECRET not in done.stdout + done.stderr
    assert list(tmp_path.iterdir()) == []          # no report, no state: nothing is recorded
    return done


def test_the_emergency_rollback_reports_its_steps(tmp_path):
    done = _stand_in(tmp_path, "rollback-production.py", "--reason", "System down", "--emergency")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "[rollback] reason: System down" in lines
    assert "[rollback] mode: emergency, health gates shortened" in lines
    assert lines[-1].startswith("[rollback] rolled back 9f3c2ab1 -> 4e81d07c in ")


def test_the_monthly_dry_run_changes_nothing(tmp_path):
    done = _stand_in(tmp_path, "rollback-production.py", "--reason", "Monthly rollback test", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "[rollback] DRY RUN: planning only" in done.stdout
    assert "[rollback] 1/4 git: would check out 4e81d07c ... ok" in done.stdout
    assert "report:" not in done.stdout
    assert done.stdout.splitlines()[-1].startswith("[rollback] dry run complete: nothing changed")


@pytest.mark.parametrize("args", [(), ("--reason", "x", "--target", "HEAD~1; rm -rf /")])
def test_the_rollback_refuses_what_the_script_refuses(tmp_path, args):
    done = _stand_in(tmp_path, "rollback-production.py", *args)
    assert done.returncode == 2
    assert "rollback-production.js: error:" in done.stderr and done.stdout == ""


def test_a_failing_step_fails_the_script(tmp_path):
    done = _stand_in(tmp_path, "rollback-production.py", "--reason", "x", "--target", "4e81d07", STANDIN_FAIL="health")
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1].endswith("... FAILED")
    assert "health failed" in done.stderr


@pytest.mark.parametrize(("script", "last"), [
    ("deploy-production.py", "[deploy] deployed b7d2e915 in "),
    ("load-test.py", "[load-test] PASS: every endpoint within its baseline in "),
    ("setup-monitoring.py", "[monitoring] monitoring is set up in "),
])
def test_the_other_scripts_run(tmp_path, script, last):
    done = _stand_in(tmp_path, script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith(last)


def test_the_deploy_says_whether_a_secret_is_set_never_what_it_is(tmp_path):
    done = _stand_in(tmp_path, "deploy-production.py")
    assert "SUPABASE_ANON_KEY set, SUPABASE_ACCESS_TOKEN NOT SET" in done.stdout


def test_the_load_test_needs_its_url(tmp_path):
    done = _stand_in(tmp_path, "load-test.py", SUPABASE_URL="")
    assert done.returncode == 1 and "SUPABASE_URL is not set" in done.stderr


# --- docs/runbooks.md ---------------------------------------------------------------------------------------

ROW = re.compile(r"^\| (\d{3}-\d{2}) \| [^|]+ \| [^|]+ \| \*\*(yes|partly|no)\*\*", re.M)
SUMMARY = re.compile(r"^\| \[([a-z-]+)\]\(#\1\) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|", re.M)


def _sections() -> dict[str, str]:
    parts = re.split(r"^## ", DOC.read_text(encoding="utf-8"), flags=re.M)
    return {part.split("\n", 1)[0]: part for part in parts[1:]}


def test_the_runbooks_doc_counts_what_its_tables_say():
    sections = _sections()
    summary = {m[0]: tuple(int(n) for n in m[1:]) for m in SUMMARY.findall(sections["Summary"])}
    assert set(summary) == set(RUNBOOKS)
    ids: list[str] = []
    for name in RUNBOOKS:
        rows = ROW.findall(sections[name])
        counted = Counter(verdict for _, verdict in rows)
        assert summary[name] == (len(rows), *(counted[v] for v in VERDICTS)), name
        assert f"{len(rows)} steps: {counted['yes']} yes, {counted['partly']} partly, {counted['no']} no." \
            in sections[name]
        assert f"(../examples/runbooks/{name}.yaml)" in sections[name]
        assert len({step[:3] for step, _ in rows}) == 1, f"{name}: steps of another runbook"
        ids += [step for step, _ in rows]
    assert len(ids) == len(set(ids)) == STEPS
