"""Where messages go, whatever the transport: the `Board` that commands' answers, alert cards, escalations,
operations and reports are delivered through, the ways a delivery fails, and the one retry policy.

    DeliveryError            a message could not be delivered
    ├── RateLimitedError     the transport said "slow down" (Slack's HTTP 429): wait `retry_after` seconds
    ├── UnavailableError     the transport could not be reached, or failed on its side: try again later
    └── RefusedError         the transport refused this message for good (`code`: not_in_channel, ...)

The Slack layer translates slack_sdk's errors into these at one boundary (bot.slack.client); every caller
decides what to do by type, through a `RetryPolicy`.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, TypeVar

from bot.reply import Card, CardRef, Reply

T = TypeVar("T")
log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A message could not be delivered. str() is short and names no secret."""

    temporary = True


class RateLimitedError(DeliveryError):
    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after: float = retry_after


class UnavailableError(DeliveryError):
    """The transport could not be reached (timeout, refused connection) or answered with a server error."""


class RefusedError(DeliveryError):
    """A permanent refusal of this message: the channel is gone, the bot is not in it, the token is revoked."""

    temporary = False

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class Board(Protocol):
    """The transport's side of cards and messages. Every method raises DeliveryError when it cannot deliver.

    A card, and a message given a `key`, is delivered at most once, even when the process dies or the answer
    is lost between sending it and learning that it arrived: calling again with the same card or key finds
    the earlier message (or finishes that attempt) instead of sending a second one."""

    def post(self, channel: str, reply: Reply, *, thread: CardRef | None = None, key: str | None = None) -> None:
        """Post a message in `channel`, or, when `thread` names a card that was posted, under that card."""

    def show(self, card: Card, *, channel: str) -> bool:
        """Post the card in `channel` the first time (remembering where), redraw it in place afterwards.
        True when it was posted now."""

    def redraw(self, card: Card) -> bool:
        """Update the card where it was posted; False (and nothing sent) when it never was."""

    def direct(self, user: str, reply: Reply, *, key: str | None = None) -> None:
        """A direct message to one person."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How long to wait after the `attempt`-th failure (1-based), by the error's type; None means give up.

    A rate limit is waited out for as long as the transport asks (up to `max_wait_s`); an outage backs off
    exponentially from `backoff_s` to `max_backoff_s`; a refusal is final unless `retry_refused` (the alert
    outbox keeps trying: someone may yet invite the bot to the channel).
    """

    attempts: int | None = 3                 # None: never give up
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_wait_s: float = 60.0
    retry_refused: bool = False

    def delay(self, exc: DeliveryError, attempt: int) -> float | None:
        if self.attempts is not None and attempt >= self.attempts:
            return None
        if isinstance(exc, RateLimitedError):
            return min(max(exc.retry_after, 0.0), self.max_wait_s)
        if isinstance(exc, RefusedError) and not self.retry_refused:
            return None
        return min(self.backoff_s * 2.0 ** (attempt - 1), self.max_backoff_s)

    def call(self, send: Callable[[], T], *, stop: threading.Event | None = None) -> T:
        """Call `send` until it delivers; re-raise its last DeliveryError when the policy gives up (or `stop`
        is set while waiting)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return send()
            except DeliveryError as exc:
                wait = self.delay(exc, attempt)
                if wait is None or (stop.wait(wait) if stop is not None else _sleep(wait)):
                    raise

    def deliver(self, send: Callable[[], object], what: str, *, stop: threading.Event | None = None,
                level: int = logging.WARNING) -> bool:
        """`call(send)` for a message whose loss is logged, not raised: False (and `what` in the log, at
        `level`) when the policy gave up."""
        try:
            self.call(send, stop=stop)
        except DeliveryError as exc:
            log.log(level, "%s could not be delivered: %s", what, exc)
            return False
        return True


def _sleep(seconds: float) -> bool:
    threading.Event().wait(seconds)
    return False


INTERACTIVE = RetryPolicy(attempts=3, backoff_s=0.5, max_backoff_s=2.0, max_wait_s=10.0)   # answers to a person
# How long a worker owns a queued delivery it claimed (an outbox row, a notice, a storm summary): three Slack
# timeouts. A claim that lapses mid-send is safe: the Slack board finds a post already made (bot.slack.ledger).
CLAIM_FOR = timedelta(seconds=30)
SCHEDULED = RetryPolicy(attempts=4, backoff_s=2.0, max_backoff_s=30.0, max_wait_s=60.0)    # reports
NOTICE = RetryPolicy(attempts=12, backoff_s=2.0, max_backoff_s=120.0, max_wait_s=120.0)    # escalation notices
BACKGROUND = RetryPolicy(attempts=None, backoff_s=2.0, max_backoff_s=300.0, max_wait_s=300.0, retry_refused=True)
