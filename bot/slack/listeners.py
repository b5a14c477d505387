"""The Slack edge: the one `/ops` listener, the button listeners, and how answers get back to Slack.

Every listener acks first (Slack's 3-second rule) and hands the work to the bot's own pool, so a slow
command never delays the ack of the next one. Cards (incidents, pending actions) are re-rendered from
their rows after every change.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

import commands
from bot.errors import new_ref
from bot.reply import CardRef, Reply
from bot.runtime import Runtime
from bot.slack.blocks import to_message
from bot.slack.client import responder
from commands import cards
from commands.base import CommandContext

log = logging.getLogger(__name__)


def register(app: App, rt: Runtime, pool: ThreadPoolExecutor) -> None:
    app.command("/ops")(partial(handle_ops, rt=rt, pool=pool))
    for action_id in commands.BUTTONS:
        app.action(action_id)(partial(handle_button, rt=rt, pool=pool))
    app.error(handle_error)


def handle_ops(ack: Ack, body: dict[str, Any], client: WebClient, *, rt: Runtime, pool: ThreadPoolExecutor) -> None:
    text = (body.get("text") or "").strip()
    if commands.is_slow(text):
        ack(response_type="ephemeral", text=f":hourglass_flowing_sand: Working on `/ops {text[:100]}`…")
    else:
        ack()
    pool.submit(_guarded, _run_command, rt, client, body, text)


def handle_button(ack: Ack, body: dict[str, Any], client: WebClient, *, rt: Runtime, pool: ThreadPoolExecutor) -> None:
    ack()
    pool.submit(_guarded, _run_button, rt, client, body)


def handle_error(error: Exception, body: dict[str, Any]) -> None:
    log.error("unhandled error in a Slack listener: ref=%s type=%s", new_ref(), body.get("type"), exc_info=error)


def _guarded(fn: Callable[..., None], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.exception("delivering an answer to Slack failed: ref=%s", new_ref())


class _Edge:
    """One request's way back to Slack: its channel, thread, response_url and the card it came from."""

    def __init__(self, rt: Runtime, client: WebClient, *, channel_id: str | None, response_url: str | None,
                 thread_ts: str | None = None, clicked: CardRef | None = None) -> None:
        self.rt, self.client, self.channel_id, self.response_url = rt, client, channel_id, response_url
        self.thread_ts, self.clicked = thread_ts, clicked

    def context(self, user_id: str) -> CommandContext:
        return CommandContext(rt=self.rt, user_id=user_id, channel_id=self.channel_id,
                              progress=self.progress, refresh=self.refresh)

    def progress(self, line: str) -> None:
        if not self.channel_id:
            return
        try:
            self.client.chat_postMessage(channel=self.channel_id, text=line, thread_ts=self.thread_ts)
        except SlackClientError:
            log.warning("could not post a progress line in %s", self.channel_id, exc_info=True)

    def refresh(self, ref: CardRef) -> None:
        """Re-render a card from its row where it was posted (or, for the clicked card, via response_url)."""
        fresh = to_message(cards.load(self.rt, ref))
        where = cards.location(self.rt, ref)
        try:
            if where is not None:
                self.client.chat_update(channel=where[0], ts=where[1], **fresh)
            elif ref == self.clicked and self.response_url:
                responder(self.response_url).send(replace_original=True, **fresh)
        except SlackClientError:
            log.warning("could not update the %s card %s", ref[0], ref[1], exc_info=True)

    def answer(self, reply: Reply) -> None:
        if reply.card is not None and self.channel_id and self._post_card(reply, reply.card, self.channel_id):
            return
        if self.response_url:
            kind = "ephemeral" if reply.ephemeral else "in_channel"
            responder(self.response_url).send(response_type=kind, replace_original=False, **to_message(reply))

    def _post_card(self, reply: Reply, ref: CardRef, channel_id: str) -> bool:
        """Post a card with chat.postMessage so its ts is known and it can be updated in place later."""
        try:
            posted = self.client.chat_postMessage(channel=channel_id, **to_message(reply))
        except SlackApiError as exc:
            log.warning("could not post a %s card in %s (%s); answering via response_url",
                        ref[0], self.channel_id, exc.response.get("error"))
            return False
        if posted.get("ts"):
            cards.attach(self.rt, ref, channel_id, str(posted["ts"]))
        return True


def _run_command(rt: Runtime, client: WebClient, body: dict[str, Any], text: str) -> None:
    edge = _Edge(rt, client, channel_id=body.get("channel_id"), response_url=body.get("response_url"))
    reply = commands.execute(edge.context(body.get("user_id", "?")), text, source="slack")
    edge.answer(reply)
    if reply.refresh is not None:
        edge.refresh(reply.refresh)


def _run_button(rt: Runtime, client: WebClient, body: dict[str, Any]) -> None:
    action = body["actions"][0]
    button = commands.button_command(action["action_id"], str(action.get("value", "")))
    if button is None:
        return
    text, clicked = button
    container = body.get("container") or {}
    channel_id = (body.get("channel") or {}).get("id") or container.get("channel_id")
    edge = _Edge(rt, client, channel_id=channel_id, response_url=body.get("response_url"),
                 thread_ts=container.get("message_ts"), clicked=clicked)
    reply = commands.execute(edge.context(body.get("user", {}).get("id", "?")), text, source="button")
    if reply.outcome not in ("ok", "failed", "cancelled") and edge.response_url:
        # A refusal (not allowed, already done, expired) is for the clicker only.
        responder(edge.response_url).send(response_type="ephemeral", replace_original=False, **to_message(reply))
    elif not reply.ephemeral:
        edge.progress(reply.text)          # who did what, in the card's thread
    edge.refresh(clicked)
    if reply.refresh is not None and reply.refresh != clicked:
        edge.refresh(reply.refresh)
