"""The Slack edge: the one `/ops` listener, the button listeners, and how answers get back to Slack.

Every listener acks first (Slack's 3-second rule) and hands the work to the bot's own pool, so a slow
command never delays the ack of the next one.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

import commands
from bot import incidents
from bot.errors import new_ref
from bot.reply import Reply
from bot.runtime import Runtime
from bot.slack.blocks import to_message
from bot.slack.client import responder
from bot.storage.db import session_scope
from commands.base import CommandContext
from commands.incident import card, load_card

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
    ref = new_ref()
    log.error("unhandled error in a Slack listener: ref=%s type=%s", ref, body.get("type"), exc_info=error)


def _guarded(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.exception("delivering an answer to Slack failed: ref=%s", new_ref())


def _context(rt: Runtime, client: WebClient, user_id: str, channel_id: str | None) -> CommandContext:
    def progress(line: str) -> None:
        if channel_id:
            client.chat_postMessage(channel=channel_id, text=line)

    return CommandContext(rt=rt, user_id=user_id, channel_id=channel_id, progress=progress)


def _run_command(rt: Runtime, client: WebClient, body: dict[str, Any], text: str) -> None:
    ctx = _context(rt, client, body.get("user_id", "?"), body.get("channel_id"))
    reply = commands.execute(ctx, text, source="slack")
    _deliver(rt, client, reply, response_url=body.get("response_url"), channel_id=body.get("channel_id"))


def _run_button(rt: Runtime, client: WebClient, body: dict[str, Any]) -> None:
    action = body["actions"][0]
    user_id = body.get("user", {}).get("id", "?")
    channel_id = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    text = commands.button_command(action["action_id"], action.get("value", ""))
    if text is None:
        return
    reply = commands.execute(_context(rt, client, user_id, channel_id), text, source="button")
    response_url = body.get("response_url")
    incident_id = _incident_of(action)
    if incident_id is not None and response_url and reply.outcome in ("ok", "conflict"):
        # Re-render the clicked card from the row: a double click or a stale card converges on the truth.
        fresh = load_card(rt, incident_id)
        responder(response_url).send(replace_original=True, **to_message(fresh))
        _remember_card(rt, incident_id, channel_id, (body.get("container") or {}).get("message_ts"))
    if reply.outcome != "ok" and response_url:
        responder(response_url).send(response_type="ephemeral", replace_original=False, **to_message(reply))


def _incident_of(action: dict[str, Any]) -> int | None:
    value = str(action.get("value", ""))
    return int(value) if action.get("action_id", "").startswith("incident.") and value.isdigit() else None


def _deliver(rt: Runtime, client: WebClient, reply: Reply, *, response_url: str | None, channel_id: str | None) -> None:
    if reply.incident_id is not None and channel_id and _post_card(rt, client, reply, channel_id):
        return
    if response_url:
        kind = "ephemeral" if reply.ephemeral else "in_channel"
        responder(response_url).send(response_type=kind, **to_message(reply))
    if reply.refresh_incident is not None:
        _update_card(rt, client, reply.refresh_incident)


def _post_card(rt: Runtime, client: WebClient, reply: Reply, channel_id: str) -> bool:
    """Post an incident card with chat.postMessage so its ts is known and it can be updated later."""
    assert reply.incident_id is not None
    try:
        posted = client.chat_postMessage(channel=channel_id, **to_message(reply))
    except SlackApiError as exc:
        log.warning("could not post incident card in %s (%s); answering via response_url",
                    channel_id, exc.response.get("error"))
        return False
    _remember_card(rt, reply.incident_id, channel_id, posted.get("ts"))
    return True


def _remember_card(rt: Runtime, incident_id: int, channel_id: str | None, ts: str | None) -> None:
    if channel_id and ts:
        with session_scope(rt.sessions) as session:
            incidents.attach_message(session=session, incident_id=incident_id, channel=channel_id, ts=ts)


def _update_card(rt: Runtime, client: WebClient, incident_id: int) -> None:
    with session_scope(rt.sessions) as session:
        record = incidents.get(session=session, incident_id=incident_id)
    if not (record.slack_channel and record.slack_ts):
        return
    try:
        client.chat_update(channel=record.slack_channel, ts=record.slack_ts, **to_message(card(record, now=rt.clock())))
    except SlackClientError:
        log.warning("could not update the card of incident #%s", incident_id, exc_info=True)
