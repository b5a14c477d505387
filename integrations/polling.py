"""Waiting for a change we asked for (a rollout, a snapshot, a stack update) to finish, with a deadline."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Poller:
    """Sleep and clock are injected so tests run a half-hour timeout in no real time."""

    interval_s: float
    sleep: Callable[[float], None] = field(default=time.sleep)
    monotonic: Callable[[], float] = field(default=time.monotonic)

    def until(self, done: Callable[[], T | None], *, timeout_s: float) -> T | None:
        """Call `done()` until it returns something other than None; None when `timeout_s` passes first."""
        deadline = self.monotonic() + timeout_s
        while True:
            result = done()
            if result is not None:
                return result
            if self.monotonic() >= deadline:
                return None
            self.sleep(self.interval_s)
