"""Sending fuzz inputs (tests.fuzzing) to a running `opsbot serve`, and counting what came back: answers by
family, shape and status; the process's log records at ERROR and the tracebacks in it, by logger and
exception type. Shared by tests/e2e/test_fuzz.py and bench/fuzz.py."""
from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from tests.fuzzing import FuzzInput

NO_ANSWER = 0                  # the connection failed or timed out: as bad as a 5xx
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ([A-Z]+) (\S+): (.*)$")
# The last line of a traceback: `KeyError: 'x'`, `sqlalchemy.exc.DataError: (psycopg.DataError) …`
EXCEPTION = re.compile(r"^((?:[a-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Warning|Violation|Iteration))\b")


@dataclass
class Tally:
    """Answers by (family, shape, status), and the first input that got each bad answer."""

    answers: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    bad: dict[tuple[str, str, int], FuzzInput] = field(default_factory=dict)
    audited: Counter[str] = field(default_factory=Counter)        # inputs that must leave an audit row, by family
    sent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, inp: FuzzInput, status: int) -> None:
        key = (inp.family, inp.shape.split(",")[0], status)
        with self._lock:
            self.sent += 1
            self.answers[key] += 1
            if inp.audited and status == 200:
                self.audited[inp.family] += 1
            if is_bad(status):
                self.bad.setdefault(key, inp)

    def server_errors(self) -> int:
        return sum(n for (_, _, status), n in self.answers.items() if is_bad(status))

    def by_status(self) -> Counter[tuple[str, int]]:
        out: Counter[tuple[str, int]] = Counter()
        for (family, _, status), n in self.answers.items():
            out[(family, status)] += n
        return out

    def report(self, limit: int = 40) -> str:
        lines = [f"{family:<13} {status:>3}: {n}" for (family, status), n in sorted(self.by_status().items())]
        for key, inp in sorted(self.bad.items())[:limit]:
            lines.append(f"  {key[2] or 'no answer'} x{self.answers[key]}: {inp.describe()}")
        return "\n".join(lines)


def is_bad(status: int) -> bool:
    return status >= 500 or status == NO_ANSWER


def send_all(base_url: str, inputs: Iterable[FuzzInput], *, clients: int = 4, tally: Tally | None = None) -> Tally:
    """Send every input from `clients` threads (one HTTP connection each); count the answers."""
    tally = tally or Tally()
    local = threading.local()

    def send(inp: FuzzInput) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=30, trust_env=False)
        tally.add(inp, answer(client, base_url, inp))

    with ThreadPoolExecutor(clients, thread_name_prefix="fuzz-client") as pool:
        for _ in pool.map(send, inputs):
            pass
    return tally


def answer(client: httpx.Client, base_url: str, inp: FuzzInput) -> int:
    try:
        return client.post(base_url + inp.path, content=inp.body, headers=inp.headers).status_code
    except httpx.HTTPError:
        return NO_ANSWER


@dataclass(frozen=True, slots=True)
class LogRecord:
    level: str
    logger: str
    message: str
    exception: str | None           # the exception type of its traceback, if it has one


def log_records(log: str) -> list[LogRecord]:
    """The records of a log in opsbot's format, each with the exception type of its traceback (if any)."""
    records: list[LogRecord] = []
    head: re.Match[str] | None = None
    exception: str | None = None
    for line in [*log.splitlines(), "0000-00-00 00:00:00,000 END end: "]:
        match = RECORD.match(line)
        if match is None:
            if line.startswith("Traceback (most recent call last)"):
                exception = "?"
            elif exception is not None and (found := EXCEPTION.match(line)):
                exception = found.group(1)
            continue
        if head is not None:
            records.append(LogRecord(head.group(1), head.group(2), head.group(3)[:200], exception))
        head, exception = match, None
    return records


def log_findings(log: str) -> Counter[tuple[str, str, str]]:
    """(level, logger, exception type or '-') of every ERROR record and every record with a traceback."""
    return Counter((r.level, r.logger, r.exception or "-") for r in log_records(log)
                   if r.level in ("ERROR", "CRITICAL") or r.exception is not None)
