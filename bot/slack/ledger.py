"""Posting a keyed message at most once, across crashes and lost answers.

Before a card or keyed message is posted, its `slack_cards` row is stored with no ts and a token naming this
attempt; the message carries its key in Slack message metadata (`event_type` "opsbot_card", `event_payload`
{kind, key}); the ts is saved when Slack answers. A row found with no ts is an attempt whose outcome is unknown
(the process died between posting and saving, or the answer was lost): before posting again, the channel's
history (a thread's replies, for a reply) is searched for the key, and a message found there is adopted.

The attempt's record is committed without waiting for the disk (it survives any crash of the bot; a crash of
PostgreSQL itself in the fraction of a second before its WAL is flushed could lose it, and then a message
posted just then could be posted again): that fsync was most of the time from a webhook to its card.

An attempt younger than LEASE may still be under way in another process: it is left alone (the caller retries
later), unless this process made it itself. Reading history needs the channels:history, groups:history and
im:history scopes; without them (or if Slack refuses the lookup) the message is posted again, and a warning
says why: a duplicate is better than a lost alarm.
"""
from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.delivery import DeliveryError, RefusedError, UnavailableError
from bot.slack.client import TIMEOUT_S, translated
from bot.storage.db import commit_without_waiting_for_disk, insert_ignoring_duplicates, session_scope
from bot.storage.models import SlackCard

log = logging.getLogger(__name__)
EVENT_TYPE = "opsbot_card"
LEASE = timedelta(seconds=TIMEOUT_S + 5)    # an attempt younger than this may still be waiting for Slack
LOOKBACK = timedelta(minutes=5)             # clocks differ: search this long either side of the attempt
PAGE, PAGES = 200, 5

Location = tuple[str, str]       # (channel id, message ts)


@dataclass(frozen=True, slots=True)
class Posted:
    where: Location
    now: bool                    # False: it was there already (posted earlier, or adopted from history)


@dataclass(frozen=True, slots=True)
class _Row:
    channel: str
    ts: str | None
    token: str | None
    since: datetime


class Ledger:
    def __init__(self, client: WebClient, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.client, self.sessions, self.clock = client, sessions, clock
        self._unsure: set[tuple[str, str]] = set()     # attempts of this process whose outcome it doesn't know
        self._lock = threading.Lock()

    def post(self, kind: str, key: str, channel: str, message: Mapping[str, Any], *, what: str,
             thread_ts: str | None = None) -> Posted:
        """Post `message` (chat.postMessage arguments) in `channel` unless the key was posted already."""
        token = uuid.uuid4().hex
        row = self._begin(kind, key[:64], channel, token)
        if row.ts is not None:
            return Posted((row.channel, row.ts), now=False)
        if row.token != token:
            found = self._take_over(kind, key[:64], row, token, what=what, thread_ts=thread_ts)
            if found is not None:
                return Posted(found, now=False)
        return Posted(self._send(kind, key[:64], channel, message, token, what=what, thread_ts=thread_ts), now=True)

    def _begin(self, kind: str, key: str, channel: str, token: str) -> _Row:
        """Record the attempt (unless one is recorded), in the same transaction as reading what is recorded.
        Committed durably: this record is what keeps a message from being posted twice, even if the database
        server itself crashes right after."""
        with session_scope(self.sessions) as session:
            insert_ignoring_duplicates(session, SlackCard, {"kind": kind, "key": key, "channel": channel, "ts": None,
                                                            "token": token, "posted_at": self.clock()},
                                       key=["kind", "key"])
            found = session.execute(select(SlackCard.channel, SlackCard.ts, SlackCard.token, SlackCard.posted_at)
                                    .where(SlackCard.kind == kind, SlackCard.key == key)).one()
        return _Row(str(found.channel), found.ts, found.token, found.posted_at)

    def _take_over(self, kind: str, key: str, row: _Row, token: str, *, what: str,
                   thread_ts: str | None) -> Location | None:
        """Make an unfinished attempt ours; the message's location if history shows it was posted."""
        with self._lock:
            ours = (kind, key) in self._unsure
        if not ours and row.since > self.clock() - LEASE:
            raise UnavailableError(f"{what}: another attempt to post it is under way")
        with session_scope(self.sessions) as session:
            taken = session.execute(update(SlackCard).where(
                SlackCard.kind == kind, SlackCard.key == key, SlackCard.ts.is_(None),
                SlackCard.token == row.token).values(token=token, posted_at=self.clock())
                .execution_options(synchronize_session=False))
        if not taken.rowcount:  # type: ignore[attr-defined]
            raise UnavailableError(f"{what}: another attempt to post it is under way")
        self._unsure_of(kind, key, True)
        ts = self._lookup(kind, key, row.channel, since=row.since, thread_ts=thread_ts, what=what)
        if ts is None:
            return None
        log.info("%s had been posted already (%s); adopting it instead of posting again", what, ts)
        self._save(kind, key, token, (row.channel, ts))
        return row.channel, ts

    def _send(self, kind: str, key: str, channel: str, message: Mapping[str, Any], token: str, *, what: str,
              thread_ts: str | None) -> Location:
        metadata = {"event_type": EVENT_TYPE, "event_payload": {"kind": kind, "key": key}}
        try:
            with translated(what):
                answer = self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, metadata=metadata,
                                                      **message)
        except UnavailableError as exc:
            if not _never_sent(exc):
                self._unsure_of(kind, key, True)       # it may have been posted: look before posting again
                raise
            self._forget(kind, key, token)
            raise
        except DeliveryError:
            self._forget(kind, key, token)             # refused or rate-limited: certainly not posted
            raise
        where = (str(answer["channel"]), str(answer["ts"]))
        self._save(kind, key, token, where)
        return where

    def _lookup(self, kind: str, key: str, channel: str, *, since: datetime, thread_ts: str | None,
                what: str) -> str | None:
        window = {"oldest": f"{(since - LOOKBACK).timestamp():.6f}", "latest": f"{(since + LOOKBACK).timestamp():.6f}"}
        cursor: str | None = None
        try:
            for _ in range(PAGES):
                with translated(f"{what} (looking it up)"):
                    page = (self.client.conversations_replies(channel=channel, ts=thread_ts, **_page(window, cursor))
                            if thread_ts else self.client.conversations_history(channel=channel,
                                                                                **_page(window, cursor)))
                found = next((str(m["ts"]) for m in page.get("messages") or [] if _carries(m, kind, key)), None)
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if found is not None or cursor is None:
                    return found
        except RefusedError as exc:
            log.warning("%s: cannot look up whether it was posted (%s; the app needs the channels:history, "
                        "groups:history and im:history scopes); posting it again", what, exc.code)
        return None

    def _save(self, kind: str, key: str, token: str, where: Location) -> None:
        with session_scope(self.sessions) as session:
            commit_without_waiting_for_disk(session)   # if lost, the next attempt looks the message up
            session.execute(update(SlackCard).where(SlackCard.kind == kind, SlackCard.key == key,
                                                    SlackCard.token == token)
                            .values(channel=where[0], ts=where[1], posted_at=self.clock())
                            .execution_options(synchronize_session=False))
        self._unsure_of(kind, key, False)

    def _forget(self, kind: str, key: str, token: str) -> None:
        with session_scope(self.sessions) as session:
            session.execute(delete(SlackCard).where(SlackCard.kind == kind, SlackCard.key == key,
                                                    SlackCard.token == token, SlackCard.ts.is_(None))
                            .execution_options(synchronize_session=False))
        self._unsure_of(kind, key, False)

    def _unsure_of(self, kind: str, key: str, unsure: bool) -> None:
        with self._lock:
            if unsure:
                self._unsure.add((kind, key))
            else:
                self._unsure.discard((kind, key))


def _page(window: dict[str, str], cursor: str | None) -> dict[str, Any]:
    return {**window, "include_all_metadata": True, "limit": PAGE, "cursor": cursor}


def _never_sent(exc: BaseException) -> bool:
    """Whether the request certainly never reached Slack (no connection could be made)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError | socket.gaierror):
            return True
        cause = getattr(cause, "reason", None) if isinstance(cause, URLError) else cause.__cause__
    return False


def _carries(message: Mapping[str, Any], kind: str, key: str) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return bool(metadata.get("event_type") == EVENT_TYPE and payload.get("kind") == kind
                and payload.get("key") == key)
