"""Run blocking adapter calls concurrently under one deadline: the only place I/O threads are spawned.

One shared pool, bounded at MAX_IN_FLIGHT threads. Threads are started only when a call finds none idle and
are reused afterwards, so repeated fan-outs never grow the thread count past the bound. The bound is wide
enough that `/ops status` over 100 services runs every check at once (bench/status_fanout.py); a wider
fan-out queues the rest, still under the caller's deadline.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
MAX_IN_FLIGHT = 128
THREAD_PREFIX = "opsbot-io"
_POOL = ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix=THREAD_PREFIX)


@dataclass(frozen=True, slots=True)
class Late:
    """A call that had not finished when the deadline passed."""

    name: str
    after_s: float


def gather(calls: Mapping[str, Callable[[], T]], *, deadline_s: float) -> dict[str, T | BaseException | Late]:
    """Run blocking calls concurrently; never wait longer than `deadline_s` in total.

    Each call must also carry its own SDK-level timeout: this only stops *waiting*, it cannot stop a
    thread that is stuck in a socket read. A call still queued at the deadline is cancelled, never run.
    """
    futures = {name: _POOL.submit(fn) for name, fn in calls.items()}
    wait(futures.values(), timeout=deadline_s)
    results: dict[str, T | BaseException | Late] = {}
    for name, fut in futures.items():
        if not fut.done():
            fut.cancel()
            results[name] = Late(name, deadline_s)
        elif (exc := fut.exception()) is not None:
            results[name] = exc
        else:
            results[name] = fut.result()
    return results
