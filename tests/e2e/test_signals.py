"""Stopping `opsbot serve` with SIGTERM or SIGINT: within 10 s and with exit code 0, also as PID 1 (as in a
container) and also while it is still starting; requests in flight get their answers; a scheduler leader
that stops hands the schedule to a standby at once."""
from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.transports import Listener
from tests.conftest import slack_env
from tests.e2e.conftest import ROOT, BotProcess, bot_env
from tests.waiting import wait_until

STOP_BOUND_S = 10.0                  # docker stop's default grace period
TAKEOVER_BOUND_S = 5.0               # a standby leads this soon after the leader's SIGTERM ...
LEADER_POLL = "60s"                  # ... while it would otherwise wait for its next poll
UNSHARE = ["unshare", "--pid", "--fork", "--map-root-user", "--mount-proc"]


def stopped_in_time(proc: subprocess.Popen[str]) -> int:
    """The exit code; fails if the process is still running STOP_BOUND_S from now."""
    try:
        return proc.wait(STOP_BOUND_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"still running {STOP_BOUND_S:.0f}s after the signal") from None


# --- a running bot ----------------------------------------------------------------------------------------------

def test_sigterm_stops_serve_within_10s_with_exit_0(start_bot):
    bot = start_bot()
    assert httpx.get(bot.url + "/healthz").status_code == 200
    started = time.monotonic()
    bot.proc.send_signal(signal.SIGTERM)
    assert stopped_in_time(bot.proc) == 0
    print(f"serve stopped {time.monotonic() - started:.2f}s after SIGTERM")
    bot._reader.join(5)
    log = "".join(bot.log)
    assert "SIGTERM: stopping" in log and log.rstrip().endswith("opsbot stopped")
    assert "Traceback" not in log


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigint_stops_serve_the_same_way(start_bot):
    bot = start_bot()
    bot.proc.send_signal(signal.SIGINT)
    assert stopped_in_time(bot.proc) == 0
    bot._reader.join(5)
    assert "opsbot stopped" in "".join(bot.log) and "KeyboardInterrupt" not in "".join(bot.log)


def tgkill(pid: int, tid: int, signum: int) -> None:
    """Send `signum` to one thread of `pid` (tgkill(2)): the kernel may hand a process's signal to any thread."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(234, pid, tid, signum) != 0:            # SYS_tgkill on x86-64
        raise OSError(ctypes.get_errno(), "tgkill")


@pytest.mark.skipif(platform.machine() != "x86_64", reason="tgkill's syscall number is x86-64's")
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigterm_taken_by_another_thread_still_stops_serve(start_bot):
    """The main thread runs the Python handler; it must notice a signal that the kernel gave another thread."""
    bot = start_bot()
    threads = [int(t) for t in os.listdir(f"/proc/{bot.proc.pid}/task") if int(t) != bot.proc.pid]
    tgkill(bot.proc.pid, threads[-1], signal.SIGTERM)
    assert stopped_in_time(bot.proc) == 0
    bot._reader.join(5)
    assert "SIGTERM: stopping" in "".join(bot.log)


# --- requests in flight -----------------------------------------------------------------------------------------

def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):   # reset: it closed while this one waited in line
        return True
    return False


class SlowApp:
    """A WSGI app whose requests wait for `release`."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.entered.set()
        self.release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"done"]


@pytest.fixture
def slow_listener() -> Iterator[tuple[Listener, SlowApp]]:
    app, listener = SlowApp(), Listener("127.0.0.1", 0)
    listener.start(app)
    yield listener, app
    app.release.set()


def in_background(url: str) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def get() -> None:
        try:
            result["response"] = httpx.get(url, timeout=10)
        except httpx.HTTPError as exc:
            result["error"] = exc

    thread = threading.Thread(target=get)
    thread.start()
    return thread, result


def test_stopping_refuses_new_connections_and_answers_the_request_in_flight(slow_listener):
    listener, app = slow_listener
    client, result = in_background(f"http://127.0.0.1:{listener.port}/slack/events")
    wait_until(app.entered.is_set, what="the request to reach the app")
    stopper = threading.Thread(target=listener.stop, kwargs={"within": 8})
    stopper.start()
    wait_until(lambda: refuses(listener.port), what="the listening socket to close")
    assert stopper.is_alive()                                 # still waiting for the request in flight
    app.release.set()
    stopper.join(5)
    client.join(5)
    assert not stopper.is_alive()
    assert result["response"].status_code == 200 and result["response"].text == "done"


def test_a_request_that_never_ends_does_not_hold_the_stop(slow_listener):
    listener, app = slow_listener
    client, result = in_background(f"http://127.0.0.1:{listener.port}/alerts/webhook")
    wait_until(app.entered.is_set, what="the request to reach the app")
    stopper = threading.Thread(target=listener.stop, kwargs={"within": 0.5})
    stopper.start()
    stopper.join(STOP_BOUND_S)
    assert not stopper.is_alive()                             # it gave up on the request after `within`
    app.release.set()
    client.join(5)


# --- as PID 1 -------------------------------------------------------------------------------------------------

def pid_namespaces_work() -> str | None:
    """None, or why a process cannot be PID 1 of its own namespace here."""
    try:
        probe = subprocess.run([*UNSHARE, "sh", "-c", "echo $$"], capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        return "unshare (util-linux) is not installed"
    if probe.returncode != 0 or probe.stdout.strip() != "1":
        return f"unshare --pid --map-root-user fails here: {probe.stderr.strip()[:200]}"
    return None


needs_pid_namespace = pytest.mark.skipif(pid_namespaces_work() is not None,
                                         reason=str(pid_namespaces_work()))


class Pid1:
    """`opsbot serve` as PID 1 of a new PID namespace; `pid` is its id as seen from here."""

    def __init__(self, env: dict[str, str]) -> None:
        self.outer = subprocess.Popen([*UNSHARE, sys.executable, "-m", "bot", "serve", "--port", "0"], env=env,
                                      cwd=ROOT, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []        # its stderr, read all along: a full pipe must never block its logging
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.pid = wait_until(self._child, timeout=10, what="unshare to start opsbot")
        status = Path(f"/proc/{self.pid}/status").read_text()
        assert re.search(r"^NSpid:\s+\d+\s+1$", status, re.M), status        # PID 1 in its namespace

    def _read(self) -> None:
        assert self.outer.stderr is not None
        for line in self.outer.stderr:
            self.lines.append(line)

    def said(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def err(self) -> str:
        self._reader.join(5)
        return "".join(self.lines)

    def _child(self) -> int | None:
        children = Path(f"/proc/{self.outer.pid}/task/{self.outer.pid}/children").read_text().split()
        return int(children[0]) if children else None

    def catches(self, signum: int) -> bool:
        """It has its own handler for `signum` (else the kernel drops the signal: it is PID 1)."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except FileNotFoundError:
            return False
        caught = int(re.search(r"^SigCgt:\s+([0-9a-f]+)$", status, re.M).group(1), 16)  # type: ignore[union-attr]
        return bool(caught & (1 << (signum - 1)))

    def stop(self) -> None:
        if self.outer.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)         # killing unshare alone would leave opsbot running
            self.outer.kill()
            self.outer.wait(10)


@pytest.fixture
def pid1(tmp_path, fake_slack, db_url) -> Iterator[Callable[[], Pid1]]:
    started: list[Pid1] = []
    config = tmp_path / "ops.yaml"
    config.write_text("services: []\n")

    def start() -> Pid1:
        started.append(Pid1(bot_env(**slack_env(fake_slack, db_url), OPSBOT_CONFIG=str(config))))
        return started[-1]

    yield start
    for bot in started:
        bot.stop()


@needs_pid_namespace
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigterm_stops_opsbot_running_as_pid_1(pid1):
    bot = pid1()
    wait_until(lambda: bot.said("listening on"), timeout=30, what="opsbot to listen")
    assert bot.catches(signal.SIGTERM)
    started = time.monotonic()
    os.kill(bot.pid, signal.SIGTERM)
    assert stopped_in_time(bot.outer) == 0                    # unshare exits with its child's code
    print(f"PID 1 stopped {time.monotonic() - started:.2f}s after SIGTERM")
    assert "opsbot stopped" in bot.err()


@needs_pid_namespace
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigterm_while_pid_1_is_still_starting_stops_it(pid1):
    bot = pid1()
    wait_until(lambda: bot.catches(signal.SIGTERM), timeout=30, what="opsbot to take SIGTERM")
    os.kill(bot.pid, signal.SIGTERM)                          # most likely mid-start: imports, migrations
    code = stopped_in_time(bot.outer)
    err = bot.err()
    assert code == 0, err
    assert re.search(r"opsbot stopped( while starting \(SIGTERM\))?$", err, re.M), err


# --- the scheduler's lock -----------------------------------------------------------------------------------------

def scheduled_config() -> dict[str, Any]:
    return {"channels": {"default": "C0ONCALL"}, "scheduler": {"leader_poll": LEADER_POLL},
            "checklists": {"morning": {"schedule": "0 9 * * *", "checks": [{"check": "manual", "text": "Look"}]}}}


def said(bot: BotProcess, text: str) -> bool:
    return any(text in line for line in list(bot.log))


def test_a_stopped_leader_hands_the_schedule_to_a_standby_at_once(start_bot):
    leader = start_bot(scheduled_config())
    wait_until(lambda: said(leader, "this replica now runs the schedule"), timeout=20, what="the first to lead")
    standby = start_bot(scheduled_config())
    wait_until(lambda: said(standby, "this one stands by"), timeout=20, what="the second to stand by")
    started = time.monotonic()
    leader.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: said(standby, "this replica now runs the schedule"), timeout=TAKEOVER_BOUND_S + 5,
               what=f"the standby to lead; its log: {''.join(standby.log)[-2000:]}")
    took = time.monotonic() - started
    print(f"standby led {took:.2f}s after the leader's SIGTERM (leader_poll {LEADER_POLL})")
    assert took < TAKEOVER_BOUND_S
    assert stopped_in_time(leader.proc) == 0

