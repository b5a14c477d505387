"""What runs on every Slack request before a listener: the shape check, and delivery dedupe.

Shape: Slack sends opsbot three kinds of request, `/ops` slash commands, button clicks (`block_actions`) and
mentions of the bot (`event_callback` with an `app_mention` event). A
request of any other shape, or with fields of the wrong type, is refused with a 400 naming the problem (logged
at INFO: it is the sender's mistake, not the bot's) before Bolt reads it (`checked`, called by bolt.OpsApp:
Bolt's own middleware and kwargs injection index into `actions` and would fail with a 500).

Dedupe: a request Slack delivers twice (a retry, `X-Slack-Retry-Num`) runs once. The key is the payload's own
identity (`event_id`, or `trigger_id` for commands and clicks). The ack path only looks the key up in this
process's memory, so it writes nothing; the work, after the ack, stores the key under a unique constraint
(`first_delivery`) and does nothing if it was stored already (by another replica, or before a restart). Old
keys are pruned by a background worker, not per request.
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.runtime import Runtime
from bot.storage.db import session_scope
from bot.storage.models import Delivery

log = logging.getLogger(__name__)
KEEP_FOR = timedelta(days=1)
REMEMBERED = 10_000                   # delivery keys this process keeps in memory (Slack retries within minutes)
DELIVERY_KEY = "delivery_key"         # where the key waits in Bolt's context for the listener
COMMAND = "/ops"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")    # Slack user, channel, team ids; trigger and event ids
_ACTION_ID = re.compile(r"[A-Za-z0-9_.\-:]{1,255}")      # Block Kit allows 255
_URL = re.compile(r"https?://[!-~]+")                    # printable ASCII, no spaces
_NUL = re.compile(r"\x00")
_SURROGATE = re.compile(r"[\ud800-\udfff]")     # only JSON escapes make one; Slack never sends them
_OBJECTS = ("event", "view", "message", "state", "function_data", "assistant_thread", "item")
_OBJECTS_OR_NULL = ("team", "container", "channel", "user")
BUTTON_VALUE_MAX = 2000                          # Block Kit's limit for a button's value
URL_MAX = 2000


def problem(body: Any) -> str | None:
    """Why this parsed body is not a request opsbot handles, or None when it is."""
    if not isinstance(body, dict):
        return "the payload is not a JSON object"
    if (why := _objects_problem(body)) is not None:
        return why
    if body.get("ssl_check") == "1" or body.get("type") == "url_verification":
        return None                                        # Slack's own checks: Bolt answers them
    if "command" in body:
        return _command_problem(body)
    kind = body.get("type")
    if kind == "block_actions":
        return _click_problem(body)
    if kind == "event_callback":
        return _event_problem(body)
    if not isinstance(kind, str):
        return "the payload has no `type`"
    return f"opsbot handles slash commands, button clicks and mentions, not `{kind[:40]}`"


def _event_problem(body: dict[str, Any]) -> str | None:
    """An Events API delivery: only `app_mention` (the one event the manifest subscribes to)."""
    event = body.get("event")
    if not isinstance(event, dict):
        return "`event` is not an object"
    kind = event.get("type")
    if kind != "app_mention":
        return f"opsbot handles the app_mention event only, not `{str(kind)[:40]}`"
    return (_id(body.get("event_id"), "event_id", required=False)
            or _id(event.get("user"), "event.user", required=False)     # absent when another bot mentions us
            or _id(event.get("channel"), "event.channel")
            or _text(event.get("ts"), "event.ts", limit=64)
            or _text(event.get("thread_ts"), "event.thread_ts", limit=64, required=False)
            or _text(event.get("text"), "event.text", limit=None, nul=True))


def _objects_problem(body: dict[str, Any]) -> str | None:
    """Fields Bolt's own middleware and helpers read as objects (`body.get("event", {}).get(...)`)."""
    for name in _OBJECTS:
        if name in body and not isinstance(body[name], dict):
            return f"`{name}` is not an object"
    for name in _OBJECTS_OR_NULL:
        if body.get(name) is not None and not isinstance(body[name], dict):
            return f"`{name}` is not an object"
    return None


def _text(value: Any, what: str, *, limit: int | None, required: bool = True, nul: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        return f"`{what}` is not a string"
    if limit is not None and len(value) > limit:
        return f"`{what}` is longer than {limit} characters"
    if _SURROGATE.search(value):
        return f"`{what}` holds a lone surrogate"
    if not nul and _NUL.search(value):
        return f"`{what}` holds a NUL character"
    return None


def _url(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > URL_MAX or not _URL.fullmatch(value):
        return "`response_url` is not an http(s) URL"
    return None


def _id(value: Any, what: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _ID.fullmatch(value):
        return f"`{what}` is not a Slack id"
    return None


def _command_problem(body: dict[str, Any]) -> str | None:
    if body.get("command") != COMMAND:
        return f"opsbot answers {COMMAND} only"
    return (_id(body.get("user_id"), "user_id") or _id(body.get("channel_id"), "channel_id", required=False)
            or _id(body.get("trigger_id"), "trigger_id", required=False)
            or _url(body.get("response_url"))
            # What a person typed may hold anything Slack can carry (NUL too): the audit log keeps it safely.
            or _text(body.get("text"), "text", limit=None, required=False, nul=True))


def _click_problem(body: dict[str, Any]) -> str | None:
    actions, user = body.get("actions"), body.get("user")
    if not isinstance(actions, list) or not actions:
        return "`actions` is not a list of actions"
    if not isinstance(user, dict):
        return "`user` is not an object"
    container, channel = body.get("container") or {}, body.get("channel") or {}
    return (_id(user.get("id"), "user.id") or _id(body.get("trigger_id"), "trigger_id", required=False)
            or _id(channel.get("id"), "channel.id", required=False)
            or _id(container.get("channel_id"), "container.channel_id", required=False)
            or _text(container.get("message_ts"), "container.message_ts", limit=64, required=False)
            or _url(body.get("response_url"))
            or _action_problem(actions[0]))


def _action_problem(action: Any) -> str | None:
    if not isinstance(action, dict):
        return "`actions[0]` is not an object"
    action_id = action.get("action_id")
    if not isinstance(action_id, str) or not _ACTION_ID.fullmatch(action_id):
        return "`actions[0].action_id` is not an action id"
    return _text(action.get("value"), "actions[0].value", limit=BUTTON_VALUE_MAX)


def delivery_key(body: dict[str, Any], raw: str) -> str:
    """What identifies one delivery: Slack sends the same value again on a retry."""
    for field, kind in (("event_id", "event"), ("trigger_id", "trigger")):
        value = body.get(field)
        if isinstance(value, str) and _ID.fullmatch(value):
            return f"{kind}:{value}"
    return "body:" + hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


class Recent:
    """The delivery keys this process has seen lately: a bounded, thread-safe set, oldest forgotten first."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._size, self._lock = size, threading.Lock()

    def add(self, key: str) -> bool:
        """Remember `key`; True the first time, False for a repeat."""
        with self._lock:
            if key in self._keys:
                return False
            self._keys[key] = None
            if len(self._keys) > self._size:
                self._keys.popitem(last=False)
            return True


def record_delivery(rt: Runtime, key: str) -> bool:
    """Store `key`; True the first time it is seen, False for a repeat."""
    try:
        with session_scope(rt.sessions) as session:
            session.add(Delivery(key=key[:128], received_at=rt.clock()))
    except IntegrityError:
        return False
    return True


def first_delivery(rt: Runtime, key: str | None) -> bool:
    """After the ack: whether this delivery's work should run (False: another replica or run already took it)."""
    if key is None:
        return True
    try:
        first = record_delivery(rt, key)
    except SQLAlchemyError as exc:
        # Better to risk running twice than to drop a command because the dedupe table is unreachable.
        log.warning("delivery dedupe unavailable (%s); handling %r anyway", type(exc).__name__, key)
        return True
    if not first:
        log.info("duplicate delivery ignored: %r (stored already)", key)
    return first


def prune_deliveries(rt: Runtime) -> int:
    """Forget delivery keys older than a day (Slack retries within minutes)."""
    with session_scope(rt.sessions) as session:
        result = session.execute(delete(Delivery).where(Delivery.received_at < rt.clock() - KEEP_FOR))
        return int(result.rowcount)  # type: ignore[attr-defined]


def prune_forever(rt: Runtime, stop: threading.Event, *, every_s: float = 600.0) -> None:
    while not stop.wait(every_s):
        try:
            prune_deliveries(rt)
        except SQLAlchemyError:
            log.warning("could not prune old deliveries; trying again later", exc_info=True)


def refusal(status: int, why: str) -> BoltResponse:
    return BoltResponse(status=status, body=why, headers={"content-type": "text/plain; charset=utf-8"})


def checked(req: BoltRequest) -> BoltResponse | None:
    """A 400 naming the problem when the request's shape is not one opsbot handles; None when it is."""
    why = problem(req.body)
    if why is None:
        return None
    log.info("malformed Slack request refused: %r", why)
    return refusal(400, f"malformed Slack request: {why}")


def register(app: App) -> None:
    recent = Recent()

    def dedupe(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        key = delivery_key(req.body, req.raw_body)
        if not recent.add(key):
            retry = req.headers.get("x-slack-retry-num", ["?"])[0]
            log.info("duplicate delivery ignored: %r (retry %r)", key, retry)
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        req.context[DELIVERY_KEY] = key
        return next()

    app.middleware(dedupe)
