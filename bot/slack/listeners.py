"""The Slack edge: the one `/ops` listener, the button listeners, and how replies get back to Slack.

Every listener acks first (Slack's 3-second rule) and hands the work to the bot's own pool, so a slow command
never delays the ack of the next one. The work first stores the delivery's key (middleware.first_delivery):
a delivery another replica already took is not run again. A button this version does not know gets a short
ephemeral answer; refusals a person caused (a missing row, a missing role, done already) are logged at INFO,
and so is every other command run (its subcommand and outcome). The pool runs the work in the request's
context, so these lines carry its request id (bot.slack.bolt, bot.logfmt).
A reply is delivered after the command returns: a new card is posted (and its place remembered), changed cards
are redrawn where they are, the rest goes to the response_url. A reply that shows only part of its text (logs)
has its full text uploaded as a file first, and says where the file is.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import Executor
from functools import partial
from typing import Any

from slack_bolt import Ack, App, BoltContext

import commands
from bot.delivery import INTERACTIVE, DeliveryError, RefusedError, RetryPolicy
from bot.errors import AuditOutcome, new_ref
from bot.reply import Attachment, Card, CardRef, Reply, text_reply
from bot.runtime import Runtime
from bot.slack import mentions
from bot.slack.blocks import to_message
from bot.slack.board import Location, SlackBoard
from bot.slack.client import checked, responder, translated
from bot.slack.middleware import COMMAND, DELIVERY_KEY, first_delivery
from commands.base import CommandContext
from commands.cards import current

log = logging.getLogger(__name__)
# A click's own answer is the redrawn card plus a line in its thread; these outcomes are refusals instead,
# shown only to the person who clicked.
DONE = (AuditOutcome.OK, AuditOutcome.CONFIRMED, AuditOutcome.APPROVED, AuditOutcome.CANCELLED)
# Outcomes a person caused (the row is gone, the role is missing, it was done already): logged at INFO.
REFUSED = (AuditOutcome.NOT_FOUND, AuditOutcome.NOT_ALLOWED, AuditOutcome.CONFLICT, AuditOutcome.REJECTED)
ANY = re.compile(r".")


def register(app: App, rt: Runtime, board: SlackBoard, pool: Executor) -> None:
    app.command(COMMAND)(partial(handle_ops, rt=rt, board=board, pool=pool))
    for action_id in commands.BUTTONS:
        app.action(action_id.value)(partial(handle_button, rt=rt, board=board, pool=pool))
    app.event("app_mention")(partial(handle_mention, rt=rt, board=board, pool=pool))
    app.action(ANY)(partial(handle_unknown_button, board=board, pool=pool))    # last: only what no listener above took
    app.error(handle_error)


def handle_ops(ack: Ack, body: dict[str, Any], context: BoltContext, *, rt: Runtime, board: SlackBoard,
               pool: Executor) -> None:
    text = (body.get("text") or "").strip()
    if commands.is_slow(text):
        ack(response_type="ephemeral", text=f":hourglass_flowing_sand: Working on `/ops {text[:100]}`…")
    else:
        ack()
    pool.submit(_once, rt, context.get(DELIVERY_KEY), _run_command, rt, board, body, text)


def handle_button(ack: Ack, body: dict[str, Any], context: BoltContext, *, rt: Runtime, board: SlackBoard,
                  pool: Executor) -> None:
    ack()
    pool.submit(_once, rt, context.get(DELIVERY_KEY), _run_button, rt, board, body)


def handle_mention(ack: Ack, body: dict[str, Any], context: BoltContext, *, rt: Runtime, board: SlackBoard,
                   pool: Executor) -> None:
    """`@opsbot …`: a note for an incident's timeline (bot.slack.mentions)."""
    ack()
    pool.submit(_once, rt, context.get(DELIVERY_KEY), mentions.handle, rt, board, body, context.bot_user_id)


def handle_unknown_button(ack: Ack, body: dict[str, Any], *, board: SlackBoard, pool: Executor) -> None:
    """A button this version of opsbot does not know (an old card, or a forged click): say so to the clicker."""
    ack()
    action_id = str(((body.get("actions") or [{}])[0]).get("action_id", "?"))[:80]
    log.info("unknown button %r clicked by %s: refused", action_id, (body.get("user") or {}).get("id", "?"))
    edge = _Edge(board, channel_id=None, response_url=body.get("response_url"))
    reply = text_reply(f":warning: opsbot does not know the button `{action_id}` (an old card?). "
                       "Type `/ops help` to see what it can do.")
    pool.submit(_guarded, edge.respond, reply, ephemeral=True)


def handle_error(error: Exception, body: dict[str, Any]) -> None:
    """A bug in a listener (every bad request is refused before one runs): logged with a reference. (Bolt
    answers 500 if the ack was not sent yet; returning a response here would fail once it was.)"""
    log.error("unhandled error in a Slack listener: ref=%s type=%s", new_ref(), body.get("type"), exc_info=error)


def _once(rt: Runtime, key: str | None, fn: Callable[..., None], *args: Any) -> None:
    """Run a delivery's work unless another replica (or this one before a restart) already took it."""
    if first_delivery(rt, key):
        _guarded(fn, *args)


def _guarded(fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:
        log.exception("delivering an answer to Slack failed: ref=%s", new_ref())


class _Edge:
    """One request's way back to Slack: its channel, the clicked card's place, the response_url."""

    def __init__(self, board: SlackBoard, *, channel_id: str | None, response_url: str | None,
                 clicked: CardRef | None = None, clicked_at: Location | None = None,
                 policy: RetryPolicy = INTERACTIVE) -> None:
        self.board, self.channel_id, self.response_url = board, channel_id, response_url
        self.clicked, self.clicked_at, self.policy = clicked, clicked_at, policy
        if clicked is not None and clicked_at is not None:
            board.remember(clicked, clicked_at)

    def context(self, rt: Runtime, user_id: str) -> CommandContext:
        return CommandContext(rt=rt, user_id=user_id, channel_id=self.channel_id)

    def _try(self, what: str, send: Callable[[], object]) -> bool:
        return self.policy.deliver(send, what)

    def say_in_thread(self, line: str) -> None:
        """A line in the clicked card's thread (who did what), or in the channel."""
        if self.channel_id:
            self._try("a line in the card's thread", partial(
                self.board.post, self.channel_id, Reply(text=line, ephemeral=False), thread=self.clicked))

    def respond(self, reply: Reply, *, ephemeral: bool) -> None:
        if not self.response_url:
            return
        url, kind = self.response_url, "ephemeral" if ephemeral else "in_channel"

        def send() -> None:
            with translated("an answer"):
                checked(responder(url).send(response_type=kind, replace_original=False, **to_message(reply)),
                        "an answer")

        self._try("an answer via response_url", send)

    def attach(self, reply: Reply, user_id: str) -> Reply:
        """Upload the reply's full text as a file, then say under the reply where it is (or why it is not): an
        ephemeral answer's file goes to the person's direct messages with the bot, a channel answer's to the
        channel (a click's, to the clicked card's thread)."""
        note = self.upload(reply, user_id)
        return reply if note is None else reply.with_note(note)

    def upload(self, reply: Reply, user_id: str) -> str | None:
        """Upload the reply's attachment, if any; the line that says where it went (or why it did not)."""
        attachment = reply.attachment
        if attachment is None:
            return None
        size = _size(attachment)
        if reply.ephemeral or not self.channel_id:
            send, where = partial(self.board.upload_direct, user_id, attachment), "in your direct messages with me"
        elif self.clicked is not None:
            send = partial(self.board.upload, self.channel_id, attachment, thread=self.clicked)
            where = "in this card's thread"
        else:
            send, where = partial(self.board.upload, self.channel_id, attachment), "in this channel"
        try:
            self.policy.call(send)
        except DeliveryError as exc:
            log.warning("the full text of a reply could not be uploaded: %s", exc)
            why = ("the Slack app lacks the `files:write` scope: reinstall it from slack-manifest.yaml"
                   if isinstance(exc, RefusedError) and exc.code == "missing_scope" else str(exc))
            return f":warning: {attachment.label} ({size}) could not be uploaded as a file ({why}). " \
                   f"{attachment.if_not_sent}"
        return f":page_facing_up: {attachment.label} ({size}) is a file {where}: `{attachment.filename}`."

    def show_new_card(self, reply: Reply) -> bool:
        """Post a command's new card where it can be redrawn later."""
        if reply.card is None or not self.channel_id:
            return False
        return self._try(f"a new {reply.card.kind.value} card",
                         partial(self.board.show, Card(reply.card, reply), channel=self.channel_id))

    def redraw(self, card: Card) -> None:
        if card.ref == self.clicked and self.clicked_at is not None:
            self._try(f"the clicked {card.ref.kind.value} card", partial(self._redraw_clicked, card))
        else:
            self._try(f"the {card.ref.kind.value} card", partial(self.board.redraw, card))

    def _redraw_clicked(self, card: Card) -> None:
        """In place; where the bot may not update messages (a channel it is not in, where the card came by
        response_url), through the click's response_url instead."""
        assert self.clicked_at is not None
        try:
            self.board.draw_at(self.clicked_at, card)
        except RefusedError:
            if not self.response_url:
                raise
            url = self.response_url
            with translated("the clicked card"):
                checked(responder(url).send(replace_original=True, **to_message(card.reply)), "the clicked card")


def _run_command(rt: Runtime, board: SlackBoard, body: dict[str, Any], text: str) -> None:
    edge = _Edge(board, channel_id=body.get("channel_id"), response_url=body.get("response_url"))
    user_id = body.get("user_id", "?")
    reply = commands.execute(edge.context(rt, user_id), text, source="slack")
    if reply.outcome in REFUSED:
        log.info("/ops %.40r by %s refused: %s", text, user_id, reply.outcome.value)
    else:                                   # one line per command run; its arguments are in the audit log
        log.info("/ops %.32r by %s: %s", (text.split(maxsplit=1) or ["help"])[0], user_id, reply.outcome.value)
    reply = edge.attach(reply, user_id)
    if not edge.show_new_card(reply):
        edge.respond(reply, ephemeral=reply.ephemeral)
    for card in reply.redraw:
        edge.redraw(card)


def _size(attachment: Attachment) -> str:
    lines, kb = attachment.content.count("\n"), len(attachment.content.encode()) / 1024
    return f"{lines:,} lines, {kb:,.0f} KB" if kb >= 10 else f"{lines:,} lines, {kb:.1f} KB"


def _run_button(rt: Runtime, board: SlackBoard, body: dict[str, Any]) -> None:
    action = (body.get("actions") or [{}])[0]
    button = commands.button_command(str(action.get("action_id", "")), str(action.get("value", "")))
    if button is None:
        return
    text, clicked = button
    container = body.get("container") or {}
    channel_id = (body.get("channel") or {}).get("id") or container.get("channel_id")
    message_ts = container.get("message_ts")
    edge = _Edge(board, channel_id=channel_id, response_url=body.get("response_url"), clicked=clicked,
                 clicked_at=(channel_id, message_ts) if channel_id and message_ts else None)
    user_id = body.get("user", {}).get("id", "?")
    reply = commands.execute(edge.context(rt, user_id), text, source="button")
    if reply.outcome not in DONE:
        log.info("click on %s %.40r by %s refused: %s", action.get("action_id"), action.get("value"), user_id,
                 reply.outcome.value)
        edge.respond(reply, ephemeral=True)        # a refusal (not allowed, already done, expired): the clicker's
        fresh = current(rt, clicked)                # ... and the card shows the real state again
        if fresh is not None:
            edge.redraw(fresh)
        return
    note = edge.upload(reply, user_id)          # a file the click made (a postmortem): under the card
    if not reply.ephemeral:
        edge.say_in_thread(reply.text + (f"\n{note}" if note else ""))
    for card in reply.redraw:
        edge.redraw(card)
