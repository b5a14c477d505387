"""The other `opsbot` subcommands, run as a user would."""
import subprocess
import sys

from tests.e2e.conftest import ROOT, run_opsbot


def test_config_check_names_the_typod_key_path(tmp_path):
    bad = tmp_path / "ops.yaml"
    bad.write_text("services:\n  - name: backend\n    health: {url: 'http://x/h', expect_stauts: 200}\n")
    result = run_opsbot("config", "check", str(bad), env={})
    assert result.returncode == 1
    assert "services[0].health.expect_stauts" in result.stderr and "Traceback" not in result.stderr


def test_config_check_summarizes_a_good_file():
    result = run_opsbot("config", "check", "examples/demo.yaml", env={})
    assert result.returncode == 0, result.stderr
    assert "examples/demo.yaml: OK" in result.stdout and "backend" in result.stdout


def test_db_upgrade_is_idempotent(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/ops.db"}
    assert run_opsbot("db", "upgrade", env=env).returncode == 0
    again = run_opsbot("db", "upgrade", env=env)
    assert again.returncode == 0 and "database at head" in again.stdout


def test_console_reads_stdin_and_presses_buttons_by_number(tmp_path):
    config = tmp_path / "ops.yaml"
    config.write_text("services: []\n")
    script = "/ops incident open P2 checkout errors\n1\n/ops incident list all\n"
    result = run_opsbot("console", "--config", str(config), "--user", "U0ALICE",
                        env={"DATABASE_URL": f"sqlite:///{tmp_path}/c.db"}, stdin=script)
    assert result.returncode == 0, result.stderr
    assert "[1] Acknowledge" in result.stdout
    assert "@U0ALICE acknowledged incident #1" in result.stdout
    assert "#1 P2 checkout errors — acknowledged" in result.stdout


def test_demo_prints_a_real_status_report(tmp_path):
    result = subprocess.run([sys.executable, "examples/demo.py"], input="/ops status\n", capture_output=True,
                            text=True, cwd=ROOT, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                                  "DATABASE_URL": f"sqlite:///{tmp_path}/d.db"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "backend — ok · HTTP 200" in out
    assert "payments — degraded" in out and "database: disconnected" in out
    assert "search — down · HTTP 503" in out
    assert "reports — down · connection refused" in out
