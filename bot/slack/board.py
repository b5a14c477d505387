"""The Slack side of the Board: posts messages and cards, remembers where each card was posted (`slack_cards`,
owned by this layer), and redraws cards in place.

Cards and keyed messages are posted once, across crashes (bot.slack.ledger records the attempt before
posting and looks the message up before posting it again). A direct message with a key goes to the person's
IM channel (conversations.open), where its history can be searched.

A card's location never changes once posted, so locations are cached per process: a redraw or a thread reply
for a card this replica has seen costs no database round trip.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TypeVar

from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.delivery import RefusedError
from bot.reply import Attachment, Card, CardKind, CardRef, Reply, code
from bot.slack.blocks import to_message
from bot.slack.client import translated
from bot.slack.ledger import Ledger, Location
from bot.storage.db import session_scope
from bot.storage.models import SlackCard

__all__ = ["CACHE", "Location", "SlackBoard"]
CACHE = 10_000
KEY_LIMIT = 64           # slack_cards.key, channel and ts are at most this long
MESSAGE = "message"              # the slack_cards kind of a keyed message (not a card)
K = TypeVar("K")
V = TypeVar("V")


class SlackBoard:
    def __init__(self, client: WebClient, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.client, self.sessions, self.clock = client, sessions, clock
        self._where: OrderedDict[CardRef, Location] = OrderedDict()
        self._drawn: OrderedDict[CardRef, float] = OrderedDict()     # the newest rendering sent, per card
        self._ims: OrderedDict[str, str] = OrderedDict()              # user -> their IM channel with the bot
        self._lock = threading.Lock()
        self.ledger = Ledger(client, sessions, clock)

    # --- where cards are ------------------------------------------------------------------------------
    def location(self, ref: CardRef) -> Location | None:
        with self._lock:
            if ref in self._where:
                self._where.move_to_end(ref)
                return self._where[ref]
        with session_scope(self.sessions) as session:
            row = session.execute(select(SlackCard.channel, SlackCard.ts).where(
                SlackCard.kind == ref.kind.value, SlackCard.key == ref.key, SlackCard.ts.is_not(None))).first()
        if row is None:
            return None
        self.remember(ref, (str(row.channel), str(row.ts)))
        return str(row.channel), str(row.ts)

    def card_at(self, channel: str, ts: str) -> CardRef | None:
        """The card the bot posted at (channel, ts), if it posted one there: what a thread under it is about."""
        with session_scope(self.sessions) as session:
            row = session.execute(select(SlackCard.kind, SlackCard.key).where(
                SlackCard.channel == channel, SlackCard.ts == ts, SlackCard.kind != MESSAGE)).first()
        if row is None or row.kind not in {kind.value for kind in CardKind}:
            return None
        return CardRef(CardKind(row.kind), str(row.key))

    def remember(self, ref: CardRef, where: Location) -> None:
        """Cache where a card is (the Slack edge learns it from a click's payload for free). A key longer than any
        card's (64, as stored) came from a forged or mangled payload: not worth a place in the cache."""
        if len(ref.key) > KEY_LIMIT or len(where[0]) > KEY_LIMIT or len(where[1]) > KEY_LIMIT:
            return
        with self._lock:
            _keep(self._where, ref, where)

    # --- the Board ------------------------------------------------------------------------------------
    def post(self, channel: str, reply: Reply, *, thread: CardRef | None = None, key: str | None = None) -> None:
        where = self.location(thread) if thread is not None else None
        target, thread_ts = (where[0], where[1]) if where else (channel, None)
        if not target:
            raise RefusedError("a message with no channel to go to", code="channel_not_found")
        if key is not None:
            self.ledger.post(MESSAGE, key, target, to_message(reply), what=f"a message to {target}",
                             thread_ts=thread_ts)
            return
        with translated(f"a message to {target}"):
            self.client.chat_postMessage(channel=target, thread_ts=thread_ts, **to_message(reply))

    def show(self, card: Card, *, channel: str) -> bool:
        with self._lock:
            where = self._where.get(card.ref)
        if where is not None:
            self.draw_at(where, card)
            return False
        posted = self.ledger.post(card.ref.kind.value, card.ref.key, channel, to_message(card.reply),
                                  what=f"the {card.ref.kind.value} card in {channel}")
        self.remember(card.ref, posted.where)
        if not posted.now:                 # posted before (maybe by a process that died): bring it up to date
            self.draw_at(posted.where, card)
            return False
        self._newest(card)
        return True

    def redraw(self, card: Card) -> bool:
        where = self.location(card.ref)
        if where is None:
            return False
        self.draw_at(where, card)
        return True

    def reply_at(self, channel: str, thread_ts: str, reply: Reply, *, key: str) -> None:
        """A reply in the thread of any message (a mention of the bot), posted once for `key`."""
        self.ledger.post(MESSAGE, key, channel, to_message(reply), what=f"a reply in a thread in {channel}",
                         thread_ts=thread_ts)

    def direct(self, user: str, reply: Reply, *, key: str | None = None) -> None:
        if key is None:
            with translated(f"a direct message to {user}"):
                self.client.chat_postMessage(channel=user, **to_message(reply))
            return
        self.ledger.post(MESSAGE, key, self._im(user), to_message(reply), what=f"a direct message to {user}")

    def _im(self, user: str) -> str:
        """The IM channel of `user` with the bot (conversations.open; its history can be searched)."""
        with self._lock:
            if user in self._ims:
                return self._ims[user]
        with translated(f"a direct message to {user} (opening the conversation)"):
            channel = str(self.client.conversations_open(users=user)["channel"]["id"])
        with self._lock:
            _keep(self._ims, user, channel)
        return channel

    # --- files ----------------------------------------------------------------------------------------
    def upload(self, channel: str, attachment: Attachment, *, thread: CardRef | None = None) -> None:
        """Share `attachment` as a file in `channel` (under a posted card when `thread` names one), by Slack's
        upload flow: files.getUploadURLExternal, the bytes POSTed to the upload_url it answers, then
        files.completeUploadExternal with the channel (and thread_ts). Needs the `files:write` scope."""
        where = self.location(thread) if thread is not None else None
        target, thread_ts = (where[0], where[1]) if where else (channel, None)
        with translated(f"a file to {target}"):
            self.client.files_upload_v2(content=attachment.content.encode(), filename=attachment.filename,
                                        title=attachment.title, channel=target, thread_ts=thread_ts,
                                        initial_comment=f"{attachment.label}: {code(attachment.title, 250)}")

    def upload_direct(self, user: str, attachment: Attachment) -> None:
        """Share `attachment` in the person's direct messages with the bot: as private as an ephemeral answer."""
        self.upload(self._im(user), attachment)

    # --- Slack only -----------------------------------------------------------------------------------
    def draw_at(self, where: Location, card: Card) -> None:
        """Update the card at `where`, unless a newer rendering of it was sent already (a delayed retry of an
        older one must not turn a finished card back to "running")."""
        if self._newest(card):
            self.update_at(where, card.reply, what=f"the {card.ref.kind.value} card")

    def _newest(self, card: Card) -> bool:
        with self._lock:
            if self._drawn.get(card.ref, float("-inf")) > card.rendered:
                return False
            _keep(self._drawn, card.ref, card.rendered)
            return True

    def update_at(self, where: Location, reply: Reply, *, what: str = "a message") -> None:
        with translated(what):
            self.client.chat_update(channel=where[0], ts=where[1], **to_message(reply))


def _keep(cache: OrderedDict[K, V], ref: K, value: V) -> None:
    """Put `ref` in a bounded cache as the most recent entry, dropping the least recent beyond CACHE."""
    cache[ref] = value
    cache.move_to_end(ref)
    while len(cache) > CACHE:
        cache.popitem(last=False)
