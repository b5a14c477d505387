"""`opsbot serve` (or `opsbot socket`) as a real subprocess on a loopback port, configured only through its
environment."""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml
from sqlalchemy import Engine, create_engine, text

from tests.conftest import PG_ENV, slack_env
from tests.fakes.fake_slack import FakeSlack

ROOT = Path(__file__).parents[2]


class BotProcess:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc, self.url = proc, url
        self.log: list[str] = []
        # Keep reading its stderr: a full pipe would block the bot the next time it logs.
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)

    def stop(self) -> str:
        """Stop the bot (SIGTERM, as `docker stop` does) and return everything it logged."""
        self.proc.terminate()
        self.proc.wait(15)
        self._reader.join(5)
        return "".join(self.log)

    def kill(self) -> None:
        """kill -9 the bot's process group: nothing of it gets to clean up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(15)
        self._reader.join(5)

    def post(self, body: str, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(self.url + "/slack/events", content=body, headers=headers, timeout=10)


def run_opsbot(*args: str, env: dict[str, str], stdin: str | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPSBOT_", "DATABASE_"))}
    full_env.update(env)
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=ROOT)


def bot_env(**extra: str) -> dict[str, str]:
    """The test process's environment without anything of opsbot's, Slack's or a proxy's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "OPSBOT_", "DATABASE_")) and "proxy" not in k.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update({"PYTHONUNBUFFERED": "1", **extra})
    return env


def launch(args: list[str], env: dict[str, str], *, cwd: Path = ROOT, own_group: bool = False) -> BotProcess:
    """Start `python -m bot ARGS` (in its own process group if asked) and wait until it says where it listens."""
    proc = subprocess.Popen([sys.executable, "-m", "bot", *args], env=env, cwd=cwd, stderr=subprocess.PIPE, text=True,
                            start_new_session=own_group)
    deadline = time.monotonic() + 30
    assert proc.stderr is not None
    early: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        early.append(line)
        if not line and proc.poll() is not None:
            raise AssertionError(f"opsbot {args[0]} exited with {proc.returncode}: {''.join(early)[-3000:]}")
        match = re.search(r"listening on (http://[^\s/]+)", line)
        if match:
            bot = BotProcess(proc, match.group(1))
            bot.log[:0] = early                   # what it logged while starting
            return bot
    proc.kill()
    raise AssertionError(f"opsbot {args[0]} did not report its port within 30s: {''.join(early)[-3000:]}")


class BotLauncher:
    """Starts `opsbot serve` (or `socket`) on the test's database and fake Slack, and can kill -9 and restart it
    on the same database and port, as a crash and a supervisor's restart would."""

    def __init__(self, config_path: Path, base_env: dict[str, str]) -> None:
        self.config_path, self.base_env = config_path, base_env
        self.procs: list[BotProcess] = []
        self._started_as: dict[int, tuple[str, dict[str, str]]] = {}     # id(bot) -> (command, env overrides)

    def __call__(self, config: dict | None = None, *, command: str = "serve", **env_overrides: str) -> BotProcess:
        self.config_path.write_text(yaml.safe_dump(config or {"services": []}))
        return self._launch(command, 0, env_overrides)

    def replicas(self, config: dict, n: int, **env_overrides: str) -> list[BotProcess]:
        """`n` `opsbot serve` processes on the same config and database, started at once."""
        self.config_path.write_text(yaml.safe_dump(config))
        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(lambda _: self._launch("serve", 0, env_overrides), range(n)))

    def _launch(self, command: str, port: int, env_overrides: dict[str, str]) -> BotProcess:
        env = bot_env(**{**self.base_env, "OPSBOT_CONFIG": str(self.config_path), **env_overrides})
        bot = launch([command, "--port", str(port)], env, own_group=True)
        self.procs.append(bot)
        self._started_as[id(bot)] = (command, env_overrides)
        return bot

    def crash_and_restart(self, bot: BotProcess) -> BotProcess:
        """SIGKILL the bot's whole process group (no cleanup runs), then start it again with the same config on
        the same port and database, as a supervisor would."""
        bot.kill()
        command, env_overrides = self._started_as[id(bot)]
        port = int(bot.url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 30
        while True:           # waitress sets SO_REUSEADDR: the port is free as soon as the killed process is gone
            try:
                return self._launch(command, port, env_overrides)
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

    def stop_all(self) -> None:
        for bot in self.procs:
            if bot.proc.poll() is None:
                bot.proc.terminate()
                try:
                    bot.proc.wait(15)
                except subprocess.TimeoutExpired:
                    bot.kill()


@pytest.fixture
def start_bot(tmp_path: Path, fake_slack, db_url: str) -> Iterator[BotLauncher]:
    launcher = BotLauncher(tmp_path / "ops.yaml", slack_env(fake_slack, db_url))
    yield launcher
    launcher.stop_all()


def latest_renderings(fake) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Every message the bot posted, by ts, as its latest successful rendering (the blocks as JSON text).

    The fake answers the n-th successful chat.postMessage with ts 1700000000.00000n; chat.update names its ts."""
    calls = sorted((c for c in fake.calls if c.name in ("chat.postMessage", "chat.update") and c.status == 200),
                   key=lambda c: c.at)
    posted = 0
    latest: dict[str, str] = {}
    for call in calls:
        if call.name == "chat.postMessage":
            posted += 1
            ts = f"1700000000.{posted:06d}"
        else:
            ts = call.body["ts"]
        latest[ts] = json.dumps(call.body["blocks"], ensure_ascii=False)
    return latest


@pytest.fixture
def bot_db(db_url: str) -> Iterator[Engine]:
    """The bot's database, read from the test on connections of its own."""
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


def db_row(engine: Engine, sql: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql)).one()


def undelivered(engine: Engine) -> int:
    """Slack deliveries the bot still owes: unsent outbox rows and storm summaries waiting to be re-rendered."""
    rows, summaries = db_row(engine, "SELECT (SELECT count(*) FROM outbox WHERE sent_at IS NULL), "
                                     "(SELECT count(*) FROM storm_summaries WHERE dirty)")
    return int(rows) + int(summaries)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def module_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of the module's own (a SQLite file, or a PostgreSQL schema) for a bot its tests share."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('shared') / 'opsbot.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} not set")
    schema = f"opsbot_m_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="module")
def module_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def module_bots(tmp_path_factory: pytest.TempPathFactory, module_slack: FakeSlack,
                module_db_url: str) -> Iterator[BotLauncher]:
    """Like start_bot, for one `opsbot serve` that a module's read-only cases share (each on both databases):
    a bot start is most of such a case's time. Its cases must not depend on each other's traces."""
    config_path = tmp_path_factory.mktemp("shared-config") / "ops.yaml"
    launcher = BotLauncher(config_path, slack_env(module_slack, module_db_url))
    yield launcher
    launcher.stop_all()
