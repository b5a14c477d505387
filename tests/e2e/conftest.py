"""`opsbot serve` (or `opsbot socket`) as a real subprocess on a loopback port, configured only through its
environment."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import slack_env

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


def launch(args: list[str], env: dict[str, str], *, cwd: Path = ROOT) -> BotProcess:
    """Start `python -m bot ARGS` and wait until it says where it listens."""
    proc = subprocess.Popen([sys.executable, "-m", "bot", *args], env=env, cwd=cwd, stderr=subprocess.PIPE, text=True)
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


@pytest.fixture
def start_bot(tmp_path: Path, fake_slack, db_url: str) -> Iterator[Callable[..., BotProcess]]:
    procs: list[BotProcess] = []

    def start(config: dict | None = None, *, command: str = "serve", **env_overrides: str) -> BotProcess:
        config_path = tmp_path / "ops.yaml"
        config_path.write_text(yaml.safe_dump(config or {"services": []}))
        env = bot_env(**{**slack_env(fake_slack, db_url), "OPSBOT_CONFIG": str(config_path), **env_overrides})
        bot = launch([command, "--port", "0"], env)
        procs.append(bot)
        return bot

    yield start
    for bot in procs:
        bot.proc.terminate()
        try:
            bot.proc.wait(15)
        except subprocess.TimeoutExpired:
            bot.proc.kill()
