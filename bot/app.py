"""The composition root: the one place that builds the bot's parts from (settings, config) and wires them."""
from __future__ import annotations

from bot.clock import Clock, utcnow
from bot.config import OpsConfig
from bot.runtime import Runtime
from bot.settings import Settings
from bot.storage import db
from integrations.base import Integrations


def build_runtime(
    settings: Settings, config: OpsConfig, *, clock: Clock = utcnow, integrations: Integrations | None = None,
    migrate: bool = True,
) -> Runtime:
    """Everything below the transports (Slack, console, HTTP): database, adapters, clock."""
    from integrations.factory import build_integrations

    engine = db.make_engine(settings.database_url)
    if migrate:
        db.upgrade(engine)
    return Runtime(
        settings=settings, config=config, engine=engine, sessions=db.make_sessions(engine),
        integrations=integrations if integrations is not None else build_integrations(config, clock=clock),
        clock=clock,
    )
