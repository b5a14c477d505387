"""The Bolt app: the Web API client, the delivery dedupe middleware, and the listeners."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App

from bot.runtime import Runtime
from bot.slack import listeners, middleware
from bot.slack.client import web_client

LISTENER_THREADS = 16   # Bolt's default is 5; listeners only ack and hand off, but keep headroom
WORK_THREADS = 16       # commands run here after the ack


def build_bolt_app(rt: Runtime, *, work_pool: ThreadPoolExecutor | None = None,
                   token_verification: bool = True) -> App:
    """The Bolt app; commands run on `work_pool` after the ack (tests pass their own to wait for it)."""
    rt.settings.require("slack_bot_token", "slack_signing_secret")
    assert rt.settings.slack_signing_secret is not None
    app = App(
        client=web_client(rt.settings),
        signing_secret=rt.settings.slack_signing_secret.get_secret_value(),
        listener_executor=ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="opsbot-listener"),
        token_verification_enabled=token_verification,
    )
    middleware.register(app, rt)
    pool = work_pool or ThreadPoolExecutor(WORK_THREADS, thread_name_prefix="opsbot-work")
    listeners.register(app, rt, pool)
    return app
