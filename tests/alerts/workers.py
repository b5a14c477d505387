"""The alert workers built on a test runtime (what bot.app.build_bot wires in production)."""
from __future__ import annotations

from typing import Any

from bot.alerts.escalator import Escalator
from bot.alerts.outbox import Outbox
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack.board import SlackBoard
from bot.slack.client import web_client


def slack_board(rt: Runtime, settings: Settings | None = None) -> SlackBoard:
    """A Slack board on the runtime's database (for another Slack URL: pass other settings)."""
    return SlackBoard(web_client(settings or rt.settings), rt.sessions, rt.clock)


def outbox(rt: Runtime, *, board: Any = None, **kwargs: Any) -> Outbox:
    kwargs.setdefault("calendar", rt.maintenance.calendar)
    return Outbox(sessions=rt.sessions, clock=rt.clock, settings=rt.config.alerts, board=board or rt.board, **kwargs)


def escalator(rt: Runtime) -> Escalator:
    return Escalator(sessions=rt.sessions, clock=rt.clock, config=rt.config)


def slack_runtime(settings: Settings, config: Any, **kwargs: Any) -> Runtime:
    """A runtime whose Board is Slack (at settings.slack_api_url), as `opsbot serve` builds it."""
    from bot.app import build_runtime

    return build_runtime(settings, config, board=lambda sessions, clock: SlackBoard(
        web_client(settings), sessions, clock), **kwargs)
