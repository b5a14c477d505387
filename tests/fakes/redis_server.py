"""A real Redis for the tests: Debian's `redis-server` on a free loopback port, nothing persisted, stopped by
its PID after the test. Without redis-server the test is skipped, except in CI (`CI=true`), where it fails:
.ci/run installs it."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.tls import closed_port
from tests.waiting import wait_until

BINARY = "redis-server"


class RedisServer:
    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary, self.workdir = binary, workdir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *extra: str) -> RedisServer:
        for _ in range(3):                      # a free port can be taken between choosing and binding it
            self.port = closed_port()
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log"), *extra],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            if wait_until(lambda: self._answers() or self.process.poll() is not None,  # type: ignore[union-attr]
                          timeout=10, what="redis-server to answer") and self.process.poll() is None:
                return self
        raise AssertionError(f"redis-server did not start: {(self.workdir / 'redis.log').read_text()[-500:]}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def client(self, **kwargs: Any) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True, **kwargs)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def redis_binary() -> str:
    found = shutil.which(BINARY) or next((p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server")
                                          if os.access(p, os.X_OK)), None)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is required in CI (apt-get install redis-server; .ci/run does it)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return found


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server for one test."""
    server = RedisServer(redis_binary(), tmp_path).start()
    yield server
    server.stop()
