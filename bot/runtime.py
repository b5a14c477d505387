"""The Runtime: everything a command, listener or job needs, built once by `bot.app` and passed down."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import OpsConfig
from bot.settings import Settings
from integrations.base import Integrations


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    config: OpsConfig
    engine: Engine
    sessions: sessionmaker[Session]
    integrations: Integrations
    clock: Clock
