"""A fake Slack Web API on loopback: records every call, keeps each channel's messages the way Slack does,
answers like Slack, and can answer 429, fail, or post a message and then lose the answer.

Messages: chat.postMessage stores text/blocks/metadata/thread_ts under a new ts (`1700000000.00000n`, n
counting the messages posted); chat.update edits one; conversations.history lists a channel's messages
newest first (thread replies left out, as Slack does), conversations.replies a thread oldest first, with
metadata only when `include_all_metadata` is set; both honor limit/cursor and oldest/latest. The ts is a
counter, not a time, so oldest/latest compare with the time the fake received each message: `clock()`, the
wall clock unless a test gives the fake its own clock.
conversations.open answers `D<user id>` for a user.
Channels, as Slack keeps them (`conversations`): conversations.create (names: lower-case letters, digits, `-`
and `_`, at most 80; `name_taken` also by an archived channel), conversations.invite (`already_in_channel`,
`cant_invite_self` for the bot UBOT, `user_not_found` for ids not starting with U/W or in `unknown_users`),
conversations.list/info, conversations.archive (`already_archived`, `not_in_channel`) and pins.add
(`already_pinned`, `message_not_found`); posting in an archived channel answers `is_archived`.
Files, by Slack's upload flow: files.getUploadURLExternal answers an upload_url on this server, a POST there
stores the bytes, files.completeUploadExternal shares them in channel_id (and thread_ts): `files` lists them.
"""
from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.waiting import wait_until

Answer = tuple[int, dict[str, Any], dict[str, str]]


@dataclass(frozen=True)
class Call:
    name: str                 # "chat.postMessage", or the path for response_url posts ("/response/cmd-1")
    body: dict[str, Any]
    headers: dict[str, str]
    at: float                 # time.monotonic() when received
    status: int = 200         # what the fake answered (429 when rate-limiting)
    answered: bool = True     # False: the fake did the work and dropped the connection instead of answering


@dataclass
class Message:
    ts: str
    text: str
    blocks: list[Any]
    metadata: dict[str, Any] | None
    thread_ts: str | None
    received: float                                        # when it arrived: what oldest/latest compare with

    def as_slack(self, with_metadata: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text, "blocks": self.blocks,
                               "bot_id": "BBOT"}
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if with_metadata and self.metadata:
            out["metadata"] = self.metadata
        return out


@dataclass
class Conversation:
    id: str
    name: str
    creator: str
    created: float                                         # unix seconds (the fake's clock)
    members: list[str]
    is_archived: bool = False
    pins: list[str] | None = None                          # pinned message ts, in order

    def as_slack(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "is_channel": True, "is_private": False, "created": int(self.created),
                "creator": self.creator, "is_archived": self.is_archived, "is_member": BOT in self.members,
                "num_members": len(self.members)}


BOT = "UBOT"                                               # auth.test's user_id
_CHANNEL_NAME = re.compile(r"^[a-z0-9_-]{1,80}$")


@dataclass
class File:
    id: str
    filename: str
    length: int
    content: bytes | None = None             # what was POSTed to the upload_url
    title: str | None = None                 # ... and, once completed, where it was shared
    channel: str | None = None
    thread_ts: str | None = None
    comment: str | None = None


class _Server(ThreadingHTTPServer):
    request_queue_size = 128      # Slack does not refuse connections in a burst; the default backlog (5) would
    daemon_threads = True


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.channels: dict[str, list[Message]] = {}   # channel id -> its messages, oldest first
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._limits: dict[str, list[int]] = {}     # name -> [remaining 429 answers, retry_after]
        self._failures: dict[str, list[Any]] = {}   # name -> [remaining failures, error code]
        self._lose: dict[str, list[Any]] = {}       # name -> [answers still to lose, which bodies]
        self.socket_url: str | None = None            # set to a FakeSocketMode's url to answer apps.connections.open
        self.clock: Callable[[], float] = time.time   # when messages arrive (unix seconds)
        self.uploads: dict[str, File] = {}            # every file asked for, by id; shared ones are in `files`
        self._file_ids = itertools.count(1)
        self.conversations: dict[str, Conversation] = {}   # channels made by conversations.create (or `add_channel`)
        self._channel_ids = itertools.count(1)
        self.unknown_users: set[str] = set()              # conversations.invite answers user_not_found for these
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                url = urlparse(self.path)
                if url.path.startswith("/upload/"):             # an upload_url: raw bytes, a plain-text answer
                    status, text = fake._receive(url.path.removeprefix("/upload/"), data)
                    with fake._lock:
                        fake.calls.append(Call(url.path, {"bytes": len(data)}, dict(self.headers), time.monotonic(),
                                               status))
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(text.encode())))
                    self.end_headers()
                    self.wfile.write(text.encode())
                    return
                raw = data.decode()
                body = {**{k: v[0] for k, v in parse_qs(url.query).items()}, **fake._parse(raw)}
                name = url.path[5:] if url.path.startswith("/api/") else url.path
                status, payload, headers = fake._answer(name, body, self.headers.get("Authorization", ""))
                lost = status == 200 and payload.get("ok") is True and fake._take_loss(name, body)
                with fake._lock:
                    fake.calls.append(Call(name, body, dict(self.headers), time.monotonic(), status, not lost))
                if lost:                      # done in Slack, but the answer never arrives
                    self.close_connection = True
                    return
                data = json.dumps(payload).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json; charset=utf-8", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api_url = self.url + "/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @staticmethod
    def _parse(raw: str) -> dict[str, Any]:
        if raw.lstrip().startswith("{"):
            body: dict[str, Any] = json.loads(raw)
        else:
            body = {k: v[0] for k, v in parse_qs(raw).items()}
        for key in ("blocks", "attachments", "metadata", "files"):
            if isinstance(body.get(key), str):
                body[key] = json.loads(body[key])
        return body

    # --- what a test can make Slack do ------------------------------------------------------------------
    def rate_limit(self, name: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls to `name` with HTTP 429 and `Retry-After`."""
        self._limits[name] = [times, retry_after]

    def fail(self, name: str, *, times: int = 1, error: str = "internal_error", channel: str | None = None) -> None:
        """Answer the next `times` calls to `name` (to `channel`, when given) with `ok: false` and `error`,
        doing nothing."""
        self._failures[name] = [times, error, channel]

    def lose_answer(self, name: str = "chat.postMessage", *, times: int = 1,
                    when: Callable[[dict[str, Any]], bool] = lambda body: True) -> None:
        """Do the next `times` successful calls to `name` whose body matches `when` (post the message…), then
        drop the connection without answering: the caller cannot know that it worked."""
        with self._lock:
            self._lose[name] = [times, when]

    def _take_loss(self, name: str, body: dict[str, Any]) -> bool:
        with self._lock:
            loss = self._lose.get(name)
            if not loss or loss[0] <= 0 or not loss[1](body):
                return False
            loss[0] -= 1
            return True

    # --- answers ----------------------------------------------------------------------------------------
    def _answer(self, name: str, body: dict[str, Any], auth: str) -> Answer:
        limit = self._limits.get(name)
        if limit and limit[0] > 0:
            limit[0] -= 1
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(limit[1])}
        failure = self._failures.get(name)
        if failure and failure[0] > 0 and failure[2] in (None, body.get("channel")):
            failure[0] -= 1
            return 200, {"ok": False, "error": failure[1]}, {}
        handler = self._handlers().get(name)
        return handler(body) if handler is not None else self._other(name, auth)

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], Answer]]:
        return {"chat.postMessage": self._post, "chat.update": self._update,
                "conversations.history": self._history, "conversations.replies": self._replies,
                "conversations.open": self._open, "files.getUploadURLExternal": self._upload_url,
                "files.completeUploadExternal": self._complete_upload,
                "conversations.create": self._create, "conversations.invite": self._invite,
                "conversations.list": self._list, "conversations.info": self._info,
                "conversations.archive": self._archive, "pins.add": self._pin}

    def _other(self, name: str, auth: str) -> Answer:
        if name == "auth.test":
            return 200, {"ok": True, "team_id": "T111", "user_id": "UBOT", "bot_id": "BBOT", "user": "opsbot",
                         "team": "Test", "url": "https://test.slack.com/"}, {}
        if name == "apps.connections.open" and self.socket_url is not None:
            if not auth.startswith("Bearer xapp-"):    # Slack wants the app-level token here, not the bot's
                return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
            return 200, {"ok": True, "url": self.socket_url}, {}
        return 200, {"ok": True}, {}

    def _post(self, body: dict[str, Any]) -> Answer:
        channel = str(body.get("channel", ""))
        if channel.startswith("CPRIVATE"):
            return 200, {"ok": False, "error": "not_in_channel"}, {}
        made = self.conversations.get(channel)
        if made is not None and made.is_archived:
            return 200, {"ok": False, "error": "is_archived"}, {}
        with self._lock:
            message = Message(f"1700000000.{next(self._ts):06d}", str(body.get("text") or ""),
                              list(body.get("blocks") or []), body.get("metadata") or None,
                              str(body["thread_ts"]) if body.get("thread_ts") else None, self.clock())
            self.channels.setdefault(channel, []).append(message)
        return 200, {"ok": True, "channel": channel, "ts": message.ts,
                     "message": message.as_slack(with_metadata=True)}, {}

    def _update(self, body: dict[str, Any]) -> Answer:
        with self._lock:
            for message in self.channels.get(str(body.get("channel")), []):
                if message.ts == body.get("ts"):
                    message.text = str(body.get("text") or message.text)
                    message.blocks = list(body.get("blocks") or message.blocks)
                    message.metadata = body.get("metadata") or message.metadata
        return 200, {"ok": True, "channel": body.get("channel"), "ts": body.get("ts")}, {}

    def _history(self, body: dict[str, Any]) -> Answer:
        with self._lock:
            messages = [m for m in self.channels.get(str(body.get("channel")), []) if not _is_reply(m)]
        return self._page(body, list(reversed(messages)))

    def _replies(self, body: dict[str, Any]) -> Answer:
        with self._lock:
            messages = [m for m in self.channels.get(str(body.get("channel")), [])
                        if m.ts == body.get("ts") or m.thread_ts == body.get("ts")]
        if not messages:
            return 200, {"ok": False, "error": "thread_not_found"}, {}
        return self._page(body, messages)

    def _page(self, body: dict[str, Any], messages: list[Message]) -> Answer:
        if str(body.get("channel", "")).startswith("CPRIVATE"):
            return 200, {"ok": False, "error": "not_in_channel"}, {}
        oldest, latest = float(body.get("oldest") or 0), float(body.get("latest") or "inf")
        inside = [m for m in messages if oldest <= m.received <= latest]
        start, limit = int(body.get("cursor") or 0), int(body.get("limit") or 100)
        page = inside[start:start + limit]
        more = start + limit < len(inside)
        metadata = str(body.get("include_all_metadata", "")).lower() in ("1", "true")
        return 200, {"ok": True, "messages": [m.as_slack(metadata) for m in page], "has_more": more,
                     "response_metadata": {"next_cursor": str(start + limit) if more else ""}}, {}

    def _upload_url(self, body: dict[str, Any]) -> Answer:
        filename, length = str(body.get("filename") or ""), str(body.get("length") or "")
        if not filename or not length.isdigit():
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        with self._lock:
            file = File(f"F{next(self._file_ids):08d}", filename, int(length))
            self.uploads[file.id] = file
        return 200, {"ok": True, "upload_url": f"{self.url}/upload/{file.id}", "file_id": file.id}, {}

    def _receive(self, file_id: str, data: bytes) -> tuple[int, str]:
        with self._lock:
            file = self.uploads.get(file_id)
            if file is None:
                return 404, "not found"
            if len(data) != file.length:              # Slack wants the length it was told
                return 400, f"length {len(data)} is not {file.length}"
            file.content = data
        return 200, f"OK - {len(data)}"

    def _complete_upload(self, body: dict[str, Any]) -> Answer:
        channel = str(body.get("channel_id") or "")
        if channel.startswith("CPRIVATE"):
            return 200, {"ok": False, "error": "not_in_channel"}, {}
        shared = []
        with self._lock:
            for item in body.get("files") or []:
                file = self.uploads.get(str(item.get("id")))
                if file is None:
                    return 200, {"ok": False, "error": "file_not_found"}, {}
                if file.content is None:
                    return 200, {"ok": False, "error": "file_upload_not_complete"}, {}
                file.title, file.channel = str(item.get("title") or file.filename), channel or None
                file.thread_ts, file.comment = body.get("thread_ts") or None, body.get("initial_comment") or None
                shared.append({"id": file.id, "name": file.filename, "title": file.title})
        return 200, {"ok": True, "files": shared}, {}

    @property
    def files(self) -> list[File]:
        """The files shared (uploaded and completed), in the order they were asked for."""
        with self._lock:
            return [f for f in self.uploads.values() if f.title is not None]

    # --- channels ---------------------------------------------------------------------------------------
    def add_channel(self, name: str, *, creator: str = "U0SOMEONE", archived: bool = False) -> Conversation:
        """A channel someone else made (to take a name, say)."""
        with self._lock:
            return self._new_channel(name, creator, archived=archived)

    def _new_channel(self, name: str, creator: str, *, archived: bool = False) -> Conversation:
        made = Conversation(f"C{next(self._channel_ids):08d}", name, creator, self.clock(), [creator],
                            is_archived=archived, pins=[])
        self.conversations[made.id] = made
        return made

    def _create(self, body: dict[str, Any]) -> Answer:
        name = str(body.get("name") or "")
        if not name:
            return 200, {"ok": False, "error": "invalid_name_required"}, {}
        if len(name) > 80:
            return 200, {"ok": False, "error": "invalid_name_maxlength"}, {}
        if not _CHANNEL_NAME.match(name):
            return 200, {"ok": False, "error": "invalid_name_specials"}, {}
        with self._lock:
            if any(c.name == name for c in self.conversations.values()):
                return 200, {"ok": False, "error": "name_taken"}, {}
            made = self._new_channel(name, BOT)
        return 200, {"ok": True, "channel": made.as_slack()}, {}

    def _channel(self, body: dict[str, Any]) -> Conversation | Answer:
        made = self.conversations.get(str(body.get("channel") or ""))
        if made is None:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        return made

    def _invite(self, body: dict[str, Any]) -> Answer:
        users = [u for u in str(body.get("users") or "").split(",") if u]
        with self._lock:
            made = self._channel(body)
            if not isinstance(made, Conversation):
                return made
            if made.is_archived:
                return 200, {"ok": False, "error": "is_archived"}, {}
            if BOT not in made.members:
                return 200, {"ok": False, "error": "not_in_channel"}, {}
            if not users:
                return 200, {"ok": False, "error": "no_user"}, {}
            for user in users:                 # as Slack without `force`: the first problem refuses the call
                if user == BOT:
                    return 200, {"ok": False, "error": "cant_invite_self"}, {}
                if user in made.members:
                    return 200, {"ok": False, "error": "already_in_channel"}, {}
                if user in self.unknown_users or user[:1] not in ("U", "W"):
                    return 200, {"ok": False, "error": "user_not_found"}, {}
            made.members.extend(users)
            return 200, {"ok": True, "channel": made.as_slack()}, {}

    def _list(self, body: dict[str, Any]) -> Answer:
        skip_archived = str(body.get("exclude_archived", "")).lower() in ("1", "true")
        with self._lock:
            found = [c.as_slack() for c in self.conversations.values() if not (skip_archived and c.is_archived)]
        start, limit = int(body.get("cursor") or 0), min(int(body.get("limit") or 100), 1000)
        more = start + limit < len(found)
        return 200, {"ok": True, "channels": found[start:start + limit],
                     "response_metadata": {"next_cursor": str(start + limit) if more else ""}}, {}

    def _info(self, body: dict[str, Any]) -> Answer:
        with self._lock:
            made = self._channel(body)
            return made if not isinstance(made, Conversation) else (200, {"ok": True, "channel": made.as_slack()}, {})

    def _archive(self, body: dict[str, Any]) -> Answer:
        with self._lock:
            made = self._channel(body)
            if not isinstance(made, Conversation):
                return made
            if made.is_archived:
                return 200, {"ok": False, "error": "already_archived"}, {}
            if BOT not in made.members:
                return 200, {"ok": False, "error": "not_in_channel"}, {}
            made.is_archived = True
        return 200, {"ok": True}, {}

    def _pin(self, body: dict[str, Any]) -> Answer:
        with self._lock:
            made = self._channel(body)
            if not isinstance(made, Conversation):
                return made
            ts = str(body.get("timestamp") or "")
            if BOT not in made.members:
                return 200, {"ok": False, "error": "not_in_channel"}, {}
            if not any(m.ts == ts for m in self.channels.get(made.id, [])):
                return 200, {"ok": False, "error": "message_not_found"}, {}
            pins = made.pins if made.pins is not None else []
            if ts in pins:
                return 200, {"ok": False, "error": "already_pinned"}, {}
            pins.append(ts)
            made.pins = pins
        return 200, {"ok": True}, {}

    def channel_named(self, name: str) -> Conversation | None:
        with self._lock:
            return next((c for c in self.conversations.values() if c.name == name), None)

    @staticmethod
    def _open(body: dict[str, Any]) -> Answer:
        users = str(body.get("users") or "")
        if not users or "," in users:
            return 200, {"ok": False, "error": "users_not_found"}, {}
        return 200, {"ok": True, "channel": {"id": FakeSlack.im(users)}}, {}

    # --- what a test reads ------------------------------------------------------------------------------
    @staticmethod
    def im(user: str) -> str:
        """The direct-message channel conversations.open answers for `user`."""
        return "D" + user

    def messages(self, channel: str) -> list[Message]:
        """The messages in `channel` (thread replies included), oldest first."""
        with self._lock:
            return list(self.channels.get(channel, []))

    def named(self, name: str, *, ok_only: bool = False) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.name == name and (c.status == 200 or not ok_only)]

    def wait_for(self, predicate: str | Callable[[Call], bool], *, n: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until `n` calls match (a name, or a predicate); fail with what was seen at the deadline."""
        match = (lambda c: c.name == predicate) if isinstance(predicate, str) else predicate

        def found() -> list[Call]:
            with self._lock:
                calls = [c for c in self.calls if match(c)]
            return calls if len(calls) >= n else []

        return wait_until(found, timeout=timeout,
                          what=f"{n} call(s) matching {predicate!r}; saw {[c.name for c in self.calls]}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _is_reply(message: Message) -> bool:
    return message.thread_ts is not None and message.thread_ts != message.ts
