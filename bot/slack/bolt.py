"""The Bolt app: the Web API client, the delivery dedupe middleware, and the listeners."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App

from bot.runtime import Runtime
from bot.slack import listeners, middleware
from bot.slack.board import SlackBoard

SLACK_PATH = "/slack/events"
LISTENER_THREADS = 16   # Bolt's default is 5; listeners only ack and hand off, but keep headroom
WORK_THREADS = 16       # commands run here after the ack


def build_bolt_app(rt: Runtime, board: SlackBoard, *, work_pool: ThreadPoolExecutor | None = None,
                   token_verification: bool = True, socket_mode: bool = False) -> App:
    """The Bolt app; commands run on `work_pool` after the ack (tests pass their own to wait for it).

    Over HTTP every request is verified with the signing secret; in Socket Mode requests arrive on the
    WebSocket the app token opened, and there is nothing to verify."""
    rt.settings.require("slack_bot_token", *(() if socket_mode else ("slack_signing_secret",)))
    secret = rt.settings.slack_signing_secret
    app = App(
        client=board.client,
        signing_secret=secret.get_secret_value() if secret else None,
        request_verification_enabled=not socket_mode,
        listener_executor=ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="opsbot-listener"),
        token_verification_enabled=token_verification,
    )
    middleware.register(app, rt)
    pool = work_pool or ThreadPoolExecutor(WORK_THREADS, thread_name_prefix="opsbot-work")
    listeners.register(app, rt, board, pool)
    return app


def wsgi_handler(app: App) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """POST /slack/events for the HTTP transport: Bolt verifies the signature and dispatches."""
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    return SlackRequestHandler(app, path=SLACK_PATH)
