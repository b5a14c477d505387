"""The one way tests wait for work done on other threads or processes: a condition and a deadline."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
POLL_S = 0.01


def wait_until(condition: Callable[[], T], *, timeout: float = 5.0, what: str = "condition") -> T:
    """Return the first truthy value of `condition()`; fail with `what` if the deadline passes first."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(POLL_S)


def stored_card(rt, kind: str, key: str) -> tuple[str, str] | None:  # type: ignore[no-untyped-def]
    """Where the Slack layer recorded a card as posted (slack_cards), or None (also while an attempt to post it
    is recorded but its ts is not known)."""
    from sqlalchemy import select

    from bot.storage.models import SlackCard

    with rt.sessions() as s:
        row = s.execute(select(SlackCard.channel, SlackCard.ts).where(SlackCard.kind == kind,
                                                                      SlackCard.key == key,
                                                                      SlackCard.ts.is_not(None))).first()
    return (row.channel, row.ts) if row else None
