"""Delivery dedupe: a request Slack delivers twice (a retry, `X-Slack-Retry-Num`) runs once.

The key is the payload's own identity (`event_id`, or `trigger_id` for commands and clicks), stored with
a unique constraint before any listener runs (one insert: the only write on the ack path); the header
alone is not trusted to mark a repeat. Old keys are pruned by a background worker, not per request.
"""
from __future__ import annotations

import hashlib
import logging
import threading
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


def delivery_key(body: dict[str, Any], raw: str) -> str:
    """What identifies one delivery: Slack sends the same value again on a retry."""
    if body.get("event_id"):
        return f"event:{body['event_id']}"
    if body.get("trigger_id"):
        return f"trigger:{body['trigger_id']}"
    return "body:" + hashlib.sha256(raw.encode()).hexdigest()


def record_delivery(rt: Runtime, key: str) -> bool:
    """Store `key`; True the first time it is seen, False for a repeat."""
    try:
        with session_scope(rt.sessions) as session:
            session.add(Delivery(key=key[:128], received_at=rt.clock()))
    except IntegrityError:
        return False
    return True


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


def register(app: App, rt: Runtime) -> None:
    def dedupe(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        key = delivery_key(req.body, req.raw_body)
        try:
            first = record_delivery(rt, key)
        except SQLAlchemyError:
            # Better to risk running twice than to drop a command because the dedupe table is unreachable.
            log.warning("delivery dedupe unavailable; handling %s anyway", key, exc_info=True)
            first = True
        if not first:
            retry = req.headers.get("x-slack-retry-num", ["?"])[0]
            log.info("duplicate delivery ignored: %s (retry %s)", key, retry)
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        return next()

    app.middleware(dedupe)
