"""An in-memory Board (bot.delivery.Board implemented for real): records every message and card, so tests of
commands, operations and workers can read what people would see without a transport."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from bot.reply import Card, CardRef, Reply
from tests.waiting import wait_until


@dataclass(frozen=True)
class Posted:
    channel: str
    reply: Reply
    thread: CardRef | None = None


class RecordingBoard:
    def __init__(self) -> None:
        self.posts: list[Posted] = []
        self.cards: dict[CardRef, Reply] = {}          # every card as last shown or redrawn
        self.shown: list[Card] = []
        self.redrawn: list[Card] = []
        self.directs: list[tuple[str, Reply]] = []
        self.keys: set[str] = set()                     # keyed messages delivered (each at most once)
        self._lock = threading.Lock()

    def post(self, channel: str, reply: Reply, *, thread: CardRef | None = None, key: str | None = None) -> None:
        with self._lock:
            if not self._first(key):
                return
            self.posts.append(Posted(channel, reply, thread))

    def show(self, card: Card, *, channel: str) -> bool:
        with self._lock:
            new = card.ref not in self.cards
            self.cards[card.ref] = card.reply
            self.shown.append(card)
        return new

    def redraw(self, card: Card) -> bool:
        with self._lock:
            self.cards[card.ref] = card.reply
            self.redrawn.append(card)
        return True

    def direct(self, user: str, reply: Reply, *, key: str | None = None) -> None:
        with self._lock:
            if not self._first(key):
                return
            self.directs.append((user, reply))

    def _first(self, key: str | None) -> bool:
        """False for a key delivered already (called under the lock)."""
        if key is None:
            return True
        new = key not in self.keys
        self.keys.add(key)
        return new

    def lines(self, thread: CardRef | None = None) -> list[str]:
        """Texts posted (under one card's thread, when given)."""
        with self._lock:
            return [p.reply.text for p in self.posts if thread is None or p.thread == thread]

    def wait_card(self, ref: CardRef, contains: str, *, timeout: float = 10.0) -> Reply:
        def found() -> Reply | None:
            with self._lock:
                reply = self.cards.get(ref)
            return reply if reply is not None and contains in reply.text else None

        return wait_until(found, timeout=timeout, what=f"card {ref} saying {contains!r}; have {self.cards.get(ref)}")
