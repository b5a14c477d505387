"""Incident channels in Slack: creates `#inc-<id>-<title>`, invites people, posts and pins the card, mirrors the
timeline into it, and archives it when asked. The rows are bot.incidents.channels; this worker takes their steps.

Each pass claims a row (a compare-and-set on `claimed_until`), so two replicas never work on one channel at
once, and records each step as it is done:

- **create**: `create_started_at` is committed before conversations.create is called. A row found with it set
  and no channel id is an attempt whose answer was lost (or whose process died): the name is looked up
  (conversations.list) and a channel the bot created since the attempt is adopted instead of creating another.
  `name_taken` by a channel that is not ours moves on to `-2`, `-3`…; any other refusal (`restricted_action`,
  `missing_scope`) fails the row and says why under the incident's card. Outages and rate limits are retried.
- **invite** the configured people (`incidents.channels.invite`) and whoever opened or asked for it, one
  conversations.invite each: `already_in_channel` is success; a refusal (`user_not_found`…) is said in the
  channel and the others are still invited.
- **post and pin** the card (posted once through the Board; `already_pinned` is success).
- **mirror**: each timeline event after `mirrored_through` is queued as a notice to the channel (keyed by the
  event, so posted once by the outbox), the card is redrawn, and the cursor moves on.
- **archive**: the card is redrawn as archived, then conversations.archive.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.alerts import notices
from bot.alerts.escalation import resolve_targets
from bot.clock import Clock
from bot.config import OpsConfig
from bot.delivery import BACKGROUND, DeliveryError, RefusedError, RetryPolicy
from bot.incidents import IncidentRecord, channels
from bot.incidents import channel_card as room_card
from bot.incidents import get as get_incident
from bot.incidents.channels import ChannelRecord, State
from bot.reply import CardKind, CardRef
from bot.slack.board import SlackBoard
from bot.slack.client import translated
from bot.storage.db import one_pass, session_scope

log = logging.getLogger(__name__)
NAMES = 5                          # the name, then -2 … -5, before giving up on `name_taken`
LOOKBACK = timedelta(minutes=5)    # clocks differ: a channel created this long before our attempt is still ours
PAGE, PAGES = 1000, 20             # conversations.list: up to 20 000 public channels searched for a name
FINE = {"already_in_channel", "cant_invite_self"}
SCOPES = {"missing_scope": " (the Slack app lacks a scope: reinstall it from slack-manifest.yaml)",
          "restricted_action": " (a workspace setting keeps apps from creating channels)"}


@dataclass(frozen=True, slots=True)
class _Found:
    id: str
    name: str


class IncidentChannelWorker:
    def __init__(self, *, board: SlackBoard, sessions: sessionmaker[Session], clock: Clock, config: OpsConfig,
                 wake: Callable[[], None] = lambda: None, policy: RetryPolicy = BACKGROUND) -> None:
        self.board, self.client, self.sessions, self.clock = board, board.client, sessions, clock
        self.config, self.settings, self.wake, self.policy = config, config.incidents.channels, wake, policy
        self._me: str | None = None

    def run_once(self) -> int:
        """Take the due step of every channel that has one; how many passes did their work."""
        with session_scope(self.sessions) as session:
            due = channels.due(session=session, now=self.clock())
        done = 0
        for incident_id in due:
            with session_scope(self.sessions) as session:
                room = channels.claim(session=session, incident_id=incident_id, now=self.clock())
            if room is None:
                continue
            try:
                self._step(room)
            except DeliveryError as exc:
                self._later(room, exc)
            else:
                done += 1
        return done

    def run_forever(self, stop: threading.Event, *, idle_s: float = 0.5) -> None:
        while not stop.is_set():
            if not one_pass("incident channel", self.run_once, failed=0, log=log):
                stop.wait(idle_s)

    def _step(self, room: ChannelRecord) -> None:
        if room.state == State.CREATING:
            self._create_and_fill(room)
        elif room.state == State.READY:
            self._mirror(room)
        elif room.state == State.ARCHIVING:
            self._archive(room)
        else:
            self._save(room, release=True)

    def _later(self, room: ChannelRecord, exc: DeliveryError) -> None:
        with session_scope(self.sessions) as session:
            attempts = channels.retry_later(session=session, incident_id=room.incident_id, error=str(exc),
                                            at=self.clock())
            wait = self.policy.delay(exc, max(attempts, 1)) or 0.0
            channels.save(session=session, incident_id=room.incident_id,
                          not_before=self.clock() + timedelta(seconds=wait))
        log.info("incident #%s channel #%s: %s; trying again in %.0fs", room.incident_id, room.name, exc, wait)

    def _save(self, room: ChannelRecord, *, release: bool = False, **values: Any) -> None:
        with session_scope(self.sessions) as session:
            channels.save(session=session, incident_id=room.incident_id, release=release, **values)

    def _incident(self, incident_id: int) -> IncidentRecord:
        with session_scope(self.sessions) as session:
            return get_incident(session=session, incident_id=incident_id)

    # --- creating ---------------------------------------------------------------------------------------
    def _create_and_fill(self, room: ChannelRecord) -> None:
        channel_id = room.channel_id or self._create(room)
        if channel_id is None:
            return
        incident = self._incident(room.incident_id)
        if room.invited_at is None:
            self._invite(room, incident, channel_id)
        if room.pinned_at is None:
            self._post_card(room, incident, channel_id)
        with session_scope(self.sessions) as session:
            channels.save(session=session, incident_id=room.incident_id, release=True, state=State.READY,
                          attempts=0, last_error=None)
            self._tell_origin(session, room, f":speech_balloon: Incident #{room.incident_id} has its own channel: "
                                             f"<#{channel_id}>. Its timeline is mirrored there.", "ready")
        self.wake()
        log.info("incident #%s: channel #%s (%s) is ready", room.incident_id, room.name, channel_id)

    def _create(self, room: ChannelRecord) -> str | None:
        """The channel's id: adopted after a lost answer, or created now (under a free name). None when Slack
        refused for good (the row is failed and the reason said)."""
        name = room.name
        if room.create_started_at is not None:
            try:
                found = self._find(name, since=room.create_started_at)
            except RefusedError as exc:    # try to create it: if it exists, name_taken below says so
                log.warning("cannot look up whether #%s was created (%s; the app needs the channels:read "
                            "scope)", name, exc.code)
                found = None
            if found is not None:
                log.info("incident #%s: #%s had been created already; adopting it", room.incident_id, name)
                self._save(room, channel_id=found.id)
                return found.id
        incident = self._incident(room.incident_id)
        for taken in range(NAMES):
            name = name if taken == 0 else channels.channel_name(incident.id, incident.title,
                                                                 prefix=self.settings.prefix, taken=taken)
            started = self.clock()
            self._save(room, name=name, create_started_at=started)     # before the call: see the module doc
            try:
                with translated(f"creating #{name}"):
                    answer = self.client.conversations_create(name=name, is_private=False)
            except RefusedError as exc:
                if exc.code != "name_taken":
                    self._fail(room, f"Slack refused to create #{name} ({exc.code}){SCOPES.get(exc.code, '')}")
                    return None
                try:
                    found = self._find(name, since=started)
                except RefusedError as lookup:
                    self._fail(room, f"#{name} exists and I cannot tell whether I made it ({lookup.code}: the app "
                                     "needs the channels:read scope)")
                    return None
                if found is not None:
                    self._save(room, channel_id=found.id)
                    return found.id
                continue
            channel_id = str(answer["channel"]["id"])
            self._save(room, channel_id=channel_id)
            return channel_id
        self._fail(room, f"the names #{room.name} to #{name} are all taken by other channels")
        return None

    def _find(self, name: str, *, since: datetime) -> _Found | None:
        """A channel named `name` that the bot created after `since` (less LOOKBACK), not archived. Raises
        RefusedError when Slack will not list channels."""
        oldest = (since - LOOKBACK).timestamp()
        cursor: str | None = None
        me = self._bot_user()
        for _ in range(PAGES):
            with translated(f"looking up #{name}"):
                page = self.client.conversations_list(types="public_channel", exclude_archived=True, limit=PAGE,
                                                      cursor=cursor)
            for c in page.get("channels") or []:
                if (c.get("name") == name and c.get("creator") == me and not c.get("is_archived")
                        and float(c.get("created") or 0) >= oldest):
                    return _Found(str(c["id"]), name)
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return None
        return None

    def _bot_user(self) -> str:
        if self._me is None:
            with translated("asking Slack who the bot is"):
                self._me = str(self.client.auth_test()["user_id"])
        return self._me

    def _fail(self, room: ChannelRecord, why: str) -> None:
        log.warning("incident #%s: no channel: %s", room.incident_id, why)
        with session_scope(self.sessions) as session:
            channels.save(session=session, incident_id=room.incident_id, release=True, state=State.FAILED,
                          last_error=why[:200])
            self._tell_origin(session, room, f":warning: I could not make a channel for incident "
                                             f"#{room.incident_id}: {why}. Everything is still recorded here; "
                                             f"`/ops incident channel {room.incident_id}` tries again.",
                              f"failed:{self.clock().timestamp():.0f}")
        self.wake()

    def _tell_origin(self, session: Session, room: ChannelRecord, text: str, what: str) -> None:
        if not room.origin_channel:
            return
        kind, _, key = (room.origin_thread or "").partition(":")
        thread = CardRef(CardKind(kind), key) if key else None
        notices.queue(session, key=f"incch:{room.incident_id}:{what}", text=text, now=self.clock(),
                      channel=room.origin_channel, thread=thread)

    # --- filling ----------------------------------------------------------------------------------------
    def _invite(self, room: ChannelRecord, incident: IncidentRecord, channel_id: str) -> None:
        with session_scope(self.sessions) as session:
            wanted = resolve_targets(session=session, config=self.config, notify=self.settings.invite,
                                     now=self.clock())
        people = [u for u in dict.fromkeys((*wanted, incident.opened_by, room.requested_by))
                  if room_card.is_user(u) and u != self._bot_user()]
        refused = []
        for user in people:
            try:
                with translated(f"inviting {user} to #{room.name}"):
                    self.client.conversations_invite(channel=channel_id, users=user)
            except RefusedError as exc:
                if exc.code not in FINE:
                    refused.append(f"<@{user}> ({exc.code})")
        with session_scope(self.sessions) as session:
            channels.save(session=session, incident_id=room.incident_id, invited_at=self.clock())
            if refused:
                log.warning("incident #%s: could not invite %s", room.incident_id, ", ".join(refused))
                notices.queue(session, key=f"incch:{room.incident_id}:invite", channel=channel_id, now=self.clock(),
                              text=f":warning: I could not invite {', '.join(refused)} to this channel; "
                                   "please add them by hand.")

    def _post_card(self, room: ChannelRecord, incident: IncidentRecord, channel_id: str) -> None:
        ready = _as(room, state=State.READY, channel_id=channel_id)
        self.board.show(room_card.card(incident, ready, now=self.clock()), channel=channel_id)
        where = self.board.location(room_card.ref(room.incident_id))
        problem = None
        if where is not None:
            try:
                with translated(f"pinning the card in #{room.name}"):
                    self.client.pins_add(channel=where[0], timestamp=where[1])
            except RefusedError as exc:
                if exc.code != "already_pinned":
                    problem = exc.code
        with session_scope(self.sessions) as session:
            channels.save(session=session, incident_id=room.incident_id, pinned_at=self.clock())
            if problem is not None:
                log.warning("incident #%s: could not pin its card (%s)", room.incident_id, problem)
                notices.queue(session, key=f"incch:{room.incident_id}:pin", channel=channel_id, now=self.clock(),
                              text=f":warning: I could not pin the incident's card ({problem}"
                                   f"{SCOPES.get(problem, '')}); it is the first message here.")

    # --- mirroring and archiving ------------------------------------------------------------------------
    def _mirror(self, room: ChannelRecord) -> None:
        assert room.channel_id is not None
        with session_scope(self.sessions) as session:
            entries = channels.events_after(session=session, incident_id=room.incident_id,
                                            after=room.mirrored_through)
            incident = get_incident(session=session, incident_id=room.incident_id)
        if not entries:
            self._save(room, release=True)
            return
        self.board.redraw(room_card.card(incident, room, now=self.clock()))
        with session_scope(self.sessions) as session:
            for entry in entries:
                if entry.kind != "opened":             # the card says who opened it, and when
                    notices.queue(session, key=f"incch:{room.incident_id}:ev:{entry.id}", channel=room.channel_id,
                                  text=room_card.timeline_line(entry), now=self.clock())
            channels.mirrored(session=session, incident_id=room.incident_id, was=room.mirrored_through,
                              through=entries[-1].id)
        self.wake()

    def _archive(self, room: ChannelRecord) -> None:
        assert room.channel_id is not None
        incident = self._incident(room.incident_id)
        self.board.redraw(room_card.card(incident, room, now=self.clock()))
        try:
            with translated(f"archiving #{room.name}"):
                self.client.conversations_archive(channel=room.channel_id)
        except RefusedError as exc:
            if exc.code != "already_archived":
                why = f"Slack refused to archive #{room.name} ({exc.code}){SCOPES.get(exc.code, '')}"
                with session_scope(self.sessions) as session:
                    channels.save(session=session, incident_id=room.incident_id, release=True, state=State.READY,
                                  last_error=why[:200], archive_requested_by=None)
                    self._tell_origin(session, room, f":warning: {why}; archive it by hand.",
                                      f"archive-failed:{self.clock().timestamp():.0f}")
                self.board.redraw(room_card.card(incident, _as(room, state=State.READY), now=self.clock()))
                self.wake()
                return
        with session_scope(self.sessions) as session:
            channels.save(session=session, incident_id=room.incident_id, release=True, state=State.ARCHIVED,
                          archived_at=self.clock())
            self._tell_origin(session, room, f":file_cabinet: #{room.name} was archived by "
                                             f"<@{room.archive_requested_by}>.", "archived")
        self.wake()
        log.info("incident #%s: channel #%s archived", room.incident_id, room.name)


def _as(room: ChannelRecord, **changes: Any) -> ChannelRecord:
    return replace(room, **changes)
