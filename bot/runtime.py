"""The Runtime: everything a command, listener or job needs, built once from settings + config and passed down."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock, utcnow
from bot.config import OpsConfig
from bot.settings import Settings
from bot.storage import db
from integrations import Integrations, build_integrations


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    config: OpsConfig
    engine: Engine
    sessions: sessionmaker[Session]
    integrations: Integrations
    clock: Clock


def build_runtime(
    settings: Settings, config: OpsConfig, *, clock: Clock = utcnow, integrations: Integrations | None = None,
    migrate: bool = True,
) -> Runtime:
    """The composition root for everything below the transports (Slack, console, HTTP)."""
    engine = db.make_engine(settings.database_url)
    if migrate:
        db.upgrade(engine)
    return Runtime(
        settings=settings, config=config, engine=engine, sessions=db.make_sessions(engine),
        integrations=integrations if integrations is not None else build_integrations(config, clock=clock),
        clock=clock,
    )
