"""Running a command action: an argv list without a shell, its output streamed to the card's thread in batches.

- `subprocess.Popen(argv, shell=False)`: each argv item reaches the program as one argument, exactly as
  written; nothing is ever parsed by a shell, so `; rm -rf /`, `$(id)` or a backtick in an argument is text.
- The environment is only what the action's `env:` gives, over a minimal `PATH` and `LANG` (BASE_ENV); none
  of the bot's own environment (its Slack token, database URL, cloud credentials) is passed on.
- Standard input is empty. The command gets a process group of its own; at its timeout the whole group is
  sent SIGTERM, and SIGKILL after KILL_GRACE.
- stdout and stderr are read line by line on two threads and posted through `progress` at most every
  FLUSH_S, a few dozen lines per message (LineBatcher), masked (`bot.masking`, with the action's secret values)
  and trimmed; after MAX_LINES lines the rest is only counted. The exit code decides the outcome.
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import IO

from bot.clock import humanize
from integrations.base import Outcome, Progress

BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
FLUSH_S = 2.0                 # at most one thread message this often while output flows
BATCH_LINES = 40              # ... and at most this many lines in one
BATCH_CHARS = 2500            # (a section holds 3000)
LINE_CHARS = 300
MAX_LINES = 400               # lines posted in all; the rest are counted
LAST_LINES = 8                # quoted in the outcome of a failure
TAIL_CHARS = 1200             # ... at most this much of them (the card's section holds 3000)
KILL_GRACE = 3.0              # between SIGTERM and SIGKILL at the timeout
DRAIN_S = 2.0                 # after the end (or a kill), how long output still in the pipes is read


def inert(text: str) -> str:
    """Output made inert in Slack mrkdwn (no mentions, links or code fences of its own), as bot.reply.escape."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fenced(text: str) -> str:
    """`text` as a code block in the thread: inert, one block."""
    return f"```\n{inert(text)}\n```"


class LineBatcher:
    """Collects output lines and posts them in code blocks: at most every `every` seconds, `lines` per post."""

    def __init__(self, progress: Progress, *, mask: Callable[[str], str], every: float = FLUSH_S,
                 lines: int = BATCH_LINES, max_lines: int = MAX_LINES,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._progress, self._mask, self._every, self._lines, self._max = progress, mask, every, lines, max_lines
        self._now = now
        self._pending: list[str] = []
        self._chars = 0
        self._posted = 0
        self.dropped = 0
        self.last: deque[str] = deque(maxlen=LAST_LINES)
        self.next_flush = now() + every

    def add(self, line: str) -> None:
        shown = cut(self._mask(line.rstrip("\r\n")), LINE_CHARS)
        self.last.append(shown)
        if self._posted + len(self._pending) >= self._max:
            self.dropped += 1
            return
        self._pending.append(shown)
        self._chars += len(shown) + 1
        if len(self._pending) >= self._lines or self._chars >= BATCH_CHARS:
            self.flush()

    def tick(self) -> None:
        if self._now() >= self.next_flush:
            self.flush()

    def flush(self) -> None:
        self.next_flush = self._now() + self._every
        if not self._pending:
            return
        text, self._pending, self._chars = "\n".join(self._pending), [], 0
        self._posted += text.count("\n") + 1
        self._progress(fenced(text))

    def close(self) -> None:
        self.flush()
        if self.dropped:
            self._progress(f"… {self.dropped} more line(s) of output not shown.")


@dataclass(frozen=True, slots=True)
class Finished:
    returncode: int | None          # None: killed at the timeout
    seconds: float


def run_command(argv: Sequence[str], *, cwd: str, env: Mapping[str, str], timeout: timedelta,
                progress: Progress, mask: Callable[[str], str]) -> Outcome:
    """Run `argv` (never through a shell) and say how it ended; its output goes to `progress`."""
    if not os.path.isdir(cwd):
        return Outcome(False, f"the working directory {cwd} does not exist; nothing was run")
    batcher = LineBatcher(progress, mask=mask)
    try:
        finished = _run(argv, cwd=cwd, env={**BASE_ENV, **env}, timeout_s=timeout.total_seconds(), batcher=batcher)
    except (FileNotFoundError, PermissionError) as exc:
        path = env.get("PATH", BASE_ENV["PATH"])
        why = "is not executable" if isinstance(exc, PermissionError) else f"was not found (PATH {path})"
        return Outcome(False, f"`{argv[0]}` {why}; nothing was run")
    batcher.close()
    took = humanize(timedelta(seconds=finished.seconds))
    tail = "; last lines:\n" + "\n".join(batcher.last)[-TAIL_CHARS:] if batcher.last else ""
    if finished.returncode is None:
        return Outcome(False, f"timed out after {humanize(timeout)}; its process group was killed{tail}")
    if finished.returncode == 0:
        return Outcome(True, f"exit code 0 after {took}")
    if finished.returncode < 0:
        name = signal.Signals(-finished.returncode).name if -finished.returncode in signal.valid_signals() else "?"
        return Outcome(False, f"killed by signal {-finished.returncode} ({name}) after {took}{tail}")
    return Outcome(False, f"exit code {finished.returncode} after {took}{tail}")


def _run(argv: Sequence[str], *, cwd: str, env: Mapping[str, str], timeout_s: float,
         batcher: LineBatcher) -> Finished:
    started = time.monotonic()
    deadline = started + timeout_s
    proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), shell=False, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            text=True, encoding="utf-8", errors="replace", bufsize=1)
    lines: queue.Queue[str | None] = queue.Queue()
    assert proc.stdout is not None and proc.stderr is not None
    readers = [threading.Thread(target=_read, args=(stream, lines), name=f"opsbot-action-{name}", daemon=True)
               for name, stream in (("out", proc.stdout), ("err", proc.stderr))]
    for reader in readers:
        reader.start()
    open_streams, timed_out = len(readers), False
    while open_streams:
        now = time.monotonic()
        if now >= deadline:
            timed_out = True
            break
        try:
            line = lines.get(timeout=max(min(deadline, batcher.next_flush) - now, 0.01))
        except queue.Empty:
            batcher.tick()
            continue
        if line is None:
            open_streams -= 1
        else:
            batcher.add(line)
            batcher.tick()
    if not timed_out:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            timed_out = True
    if timed_out:
        _kill_group(proc)
    for reader in readers:
        reader.join(DRAIN_S)
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            break
        if line is not None:
            batcher.add(line)
    return Finished(None if timed_out else proc.returncode, time.monotonic() - started)


def _read(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    try:
        for line in stream:
            lines.put(line)
    except (OSError, ValueError):            # the pipe closed under us (a kill)
        pass
    finally:
        lines.put(None)
        stream.close()


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the command's process group, SIGKILL after KILL_GRACE if its leader is still there."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, KILL_GRACE)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            if sig is signal.SIGTERM:
                _kill_rest(proc)
            return
        except subprocess.TimeoutExpired:
            continue


def _kill_rest(proc: subprocess.Popen[str]) -> None:
    """The leader went at SIGTERM: whatever else of its group ignored it goes now."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
