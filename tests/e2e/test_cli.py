"""The other `opsbot` subcommands, run as a user would, and every reason `opsbot` cannot start."""
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

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


DEAD_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: dead, user: {token: x}}]
contexts: [{name: dead, context: {cluster: dead, user: dead}}]
current-context: dead
"""


def test_console_on_a_dead_cluster_answers_in_one_line_without_library_chatter(tmp_path):
    (tmp_path / "kubeconfig").write_text(DEAD_KUBECONFIG)
    config = tmp_path / "ops.yaml"
    config.write_text(f"integrations:\n  kubernetes: {{kubeconfig: {tmp_path / 'kubeconfig'}, context: dead}}\n"
                      "services:\n  - name: backend\n    kubernetes: {deployment: backend, namespace: shop}\n")
    result = run_opsbot("console", "--config", str(config), env={"DATABASE_URL": f"sqlite:///{tmp_path}/c.db"},
                        stdin="/ops rollback backend\n")
    assert result.returncode == 0, result.stderr
    assert "deployment/backend in shop: cluster did not answer (connection refused)." in result.stdout
    assert "urllib3" not in result.stderr and "Traceback" not in result.stderr    # the answer says it all


def test_demo_prints_a_real_status_report(tmp_path):
    result = subprocess.run([sys.executable, "examples/demo.py"], input="/ops status\n", capture_output=True,
                            text=True, cwd=ROOT, timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                                                                  "DATABASE_URL": f"sqlite:///{tmp_path}/d.db"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "backend — ok" in out and "http: HTTP 200" in out and "kubernetes: 3/3 ready" in out
    assert "payments — degraded" in out and "database: disconnected" in out
    assert "search — down · HTTP 503" in out
    assert "reports — down · connection refused" in out


# --- every reason `opsbot` cannot start: one line naming it, exit 2 ------------------------------------------

class RejectingSlack:
    """A Slack that refuses every token, as Slack answers a revoked or mistyped one."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.dumps({"ok": False, "error": "invalid_auth"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api_url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def rejecting_slack() -> Iterator[RejectingSlack]:
    slack = RejectingSlack()
    yield slack
    slack.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_env(tmp_path: Path, slack_api_url: str, **extra: str) -> dict[str, str]:
    config = tmp_path / "ops.yaml"
    config.write_text("services: []\n")
    return {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": slack_api_url,
            "OPSBOT_CONFIG": str(config), "DATABASE_URL": f"sqlite:///{tmp_path}/ok.db", "NO_PROXY": "127.0.0.1",
            **extra}


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failure's only stderr line, after checking the exit code and that nothing else was printed."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert lines[0].startswith("opsbot: ")
    return lines[0]


def test_a_rejected_token_is_one_line(tmp_path, rejecting_slack):
    line = one_line(run_opsbot("serve", "--port", "0", env=start_env(tmp_path, rejecting_slack.api_url)))
    assert line == "opsbot: Slack rejected the bot token (invalid_auth)"


def test_an_unreachable_slack_is_one_line(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/api/"
    line = one_line(run_opsbot("serve", "--port", "0", env=start_env(tmp_path, url)))
    assert line == f"opsbot: Slack is unreachable at {url} (Connection refused)"


@pytest.mark.parametrize("command", ["serve", "socket"])
def test_a_port_in_use_is_one_line(tmp_path, fake_slack, command):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = start_env(tmp_path, fake_slack.api_url, SLACK_APP_TOKEN="xapp-test")
        line = one_line(run_opsbot(command, "--port", str(port), env=env))
    assert line == f"opsbot: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert fake_slack.calls == []                          # it stopped before anything else


SUPPORTED = "(use sqlite:///PATH or postgresql+psycopg://USER:PASS@HOST:PORT/DB)"


UPGRADE, SERVE = ("db", "upgrade"), ("serve", "--port", "0")


@pytest.mark.parametrize(("url", "expected", "command"), [
    ("mysql://opsbot@db.internal/opsbot", f"opsbot: DATABASE_URL: mysql:// is not supported {SUPPORTED}", UPGRADE),
    ("mysql://opsbot@db.internal/opsbot", f"opsbot: DATABASE_URL: mysql:// is not supported {SUPPORTED}", SERVE),
    ("foo://bar", f"opsbot: DATABASE_URL: foo:// is not supported {SUPPORTED}", UPGRADE),
    ("not a url", f"opsbot: DATABASE_URL is not a database URL {SUPPORTED}", UPGRADE),
    ("postgresql+asyncpg://u@127.0.0.1/x", "opsbot: DATABASE_URL: the driver of postgresql+asyncpg:// is not "
                                           "installed (No module named 'asyncpg'); use sqlite:///PATH or "
                                           "postgresql+psycopg://USER:PASS@HOST:PORT/DB", UPGRADE),
])
def test_an_unsupported_database_url_is_one_line(tmp_path, fake_slack, url, expected, command):
    assert one_line(run_opsbot(*command, env=start_env(tmp_path, fake_slack.api_url, DATABASE_URL=url))) == expected


def pg(postgres_url: str, **parts: str | int) -> str:
    """The test server's URL with some parts changed (and without the test's schema option)."""
    return make_url(postgres_url).set(query={}, **parts).render_as_string(hide_password=False)  # type: ignore[arg-type]


def refused(postgres_url: str, tmp: Path) -> tuple[str, str]:
    port = closed_port()
    return pg(postgres_url, host="127.0.0.1", port=port), f"connection refused (127.0.0.1:{port})"


DB_CASES = {   # case -> (postgres_url, tmp_path) -> (DATABASE_URL, the cause the line must name)
    "refused": refused,
    "unknown host": lambda pgurl, tmp: (pg(pgurl, host="nonexistent.invalid"), "unknown host 'nonexistent.invalid'"),
    "missing database": lambda pgurl, tmp: (pg(pgurl, database="nope_db"),
                                            "missing database: 'nope_db' does not exist"),
    "authentication": lambda pgurl, tmp: (pg(pgurl, username="no_such_role"),
                                          "authentication failed: role 'no_such_role' does not exist"),
    "sqlite missing directory": lambda pgurl, tmp: (f"sqlite:///{tmp}/missing/ops.db",
                                                    f"bad path: directory {tmp}/missing does not exist"),
    "sqlite directory not writable": lambda pgurl, tmp: (f"sqlite:///{tmp}/ro/ops.db",
                                                         f"bad path: directory {tmp}/ro is not writable"),
}


@pytest.mark.parametrize(("case", "command"), [(case, UPGRADE) for case in DB_CASES] + [
    (case, SERVE) for case in ("refused", "missing database", "sqlite missing directory")])
def test_a_database_that_cannot_be_used_says_why_in_one_line(request, tmp_path, fake_slack, case, command):
    postgres_url = "" if case.startswith("sqlite") else request.getfixturevalue("postgres_url")
    url, cause = DB_CASES[case](postgres_url, tmp_path)
    (tmp_path / "ro").mkdir(mode=0o555)
    env = start_env(tmp_path, fake_slack.api_url, DATABASE_URL=url)
    read_only = case.endswith("not writable") and os.geteuid() == 0
    line = one_line(run_read_only(tmp_path / "ro", *command, env=env) if read_only else run_opsbot(*command, env=env))
    assert line == f"opsbot: database {make_url(url).render_as_string(hide_password=True)}: {cause}"


def run_read_only(folder: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """opsbot with `folder` mounted read-only (root ignores a directory's mode; a read-only mount it cannot)."""
    full = {**{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPSBOT_", "DATABASE_"))}, **env}
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"'
    return subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", str(folder), sys.executable, "-m", "bot",
                           *args], capture_output=True, text=True, env=full, cwd=ROOT, timeout=60)


def test_a_missing_config_file_keeps_exit_code_1(tmp_path):
    result = run_opsbot("config", "check", str(tmp_path / "nope.yaml"), env={})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        f"{tmp_path}/nope.yaml: file not found (set OPSBOT_CONFIG or pass --config)"]


def test_the_image_runs_opsbot_so_that_signals_reach_it():
    """Exec form (a JSON list), not a shell that would swallow SIGTERM; tini as PID 1 forwards signals."""
    instructions = {}
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        word, _, rest = line.partition(" ")
        if word in ("ENTRYPOINT", "CMD"):
            instructions[word] = json.loads(rest)
    assert instructions["ENTRYPOINT"] == ["/usr/bin/tini", "--"]
    assert instructions["CMD"][:2] == ["opsbot", "serve"]
