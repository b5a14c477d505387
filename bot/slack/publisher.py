"""Posting scheduled reports: the report, then its details as thread replies, with a few retries.

A report is stored before it is posted; if Slack cannot be reached after the retries the run stays in
`/ops checklist history` and the log says so (scheduled reports are not queued like alert cards)."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.reply import Reply
from bot.slack.blocks import to_message

log = logging.getLogger(__name__)
PERMANENT = {"channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "account_inactive",
             "token_revoked", "missing_scope", "invalid_blocks", "msg_too_long"}


class SlackPublisher:
    def __init__(self, client: WebClient, *, backoff_s: Sequence[float] = (2.0, 10.0, 30.0),
                 stop: threading.Event | None = None) -> None:
        self.client, self.backoff_s = client, tuple(backoff_s)
        self._stop = stop or threading.Event()

    def publish(self, channel: str, reply: Reply, thread: Iterable[Reply] = ()) -> tuple[str, str] | None:
        posted = self._call(lambda: self.client.chat_postMessage(channel=channel, **to_message(reply)), channel)
        if posted is None:
            return None
        where = (str(posted["channel"]), str(posted["ts"]))
        for part in thread:
            self._call(lambda p=part: self.client.chat_postMessage(  # type: ignore[misc]
                channel=where[0], thread_ts=where[1], **to_message(p)), channel)
        return where

    def _call(self, send: Callable[[], Any], channel: str) -> Any:
        for attempt, wait_s in enumerate((*self.backoff_s, None), start=1):
            try:
                return send()
            except SlackApiError as exc:
                error = str(exc.response.get("error", "unknown"))
                if error in PERMANENT or wait_s is None:
                    log.error("Slack refused a scheduled report for %s: %s (attempt %d)", channel, error, attempt)
                    return None
                log.warning("Slack refused a scheduled report for %s: %s; retrying in %.0fs", channel, error, wait_s)
            except (SlackClientError, OSError) as exc:
                if wait_s is None:
                    log.error("Slack unreachable for a scheduled report to %s: %s", channel, type(exc).__name__)
                    return None
                log.warning("Slack unreachable (%s); retrying in %.0fs", type(exc).__name__, wait_s)
            if self._stop.wait(wait_s):
                return None
        return None
