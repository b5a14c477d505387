"""`opsbot serve` as a real subprocess on a loopback port, configured only through its environment."""
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
        """Stop the bot and return everything it logged."""
        self.proc.terminate()
        self.proc.wait(10)
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


@pytest.fixture
def start_bot(tmp_path: Path, fake_slack, db_url: str) -> Iterator[Callable[..., BotProcess]]:
    procs: list[subprocess.Popen[str]] = []

    def start(config: dict | None = None, **env_overrides: str) -> BotProcess:
        config_path = tmp_path / "ops.yaml"
        config_path.write_text(yaml.safe_dump(config or {"services": []}))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPSBOT_", "DATABASE_"))}
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        env.update(slack_env(fake_slack, db_url))
        env.update({"OPSBOT_CONFIG": str(config_path), "PYTHONUNBUFFERED": "1", **env_overrides})
        proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", "0"], env=env, cwd=ROOT,
                                stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        deadline = time.monotonic() + 30
        assert proc.stderr is not None
        early: list[str] = []
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            early.append(line)
            if not line and proc.poll() is not None:
                raise AssertionError(f"opsbot serve exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
            match = re.search(r"listening on (http://\S+?)/slack/events", line)
            if match:
                bot = BotProcess(proc, match.group(1))
                bot.log[:0] = early                   # what it logged while starting
                return bot
        raise AssertionError("opsbot serve did not report its port within 30s")

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
