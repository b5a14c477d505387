"""The Runtime: everything a command, listener or job needs, built once by `bot.app` and passed down.

Commands reach the database only through the services here (`incidents`, `incident_channels`, `alerts`,
`oncall`, `operations`), each call one transaction; they reach the systems we operate only through `integrations`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.maintenance import Maintenance
from bot.alerts.overrides import Overrides
from bot.alerts.service import Alerts
from bot.clock import Clock
from bot.config import OpsConfig
from bot.delivery import Board
from bot.incidents import Incidents
from bot.incidents.channels import IncidentChannels
from bot.incidents.postmortem import Postmortems
from bot.metrics import Metrics
from bot.operations import Operations
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
    board: Board                 # where cards and messages go: Slack, or the console
    incidents: Incidents
    incident_channels: IncidentChannels
    alerts: Alerts
    oncall: Overrides
    operations: Operations
    maintenance: Maintenance     # maintenance windows (bot.alerts.maintenance)
    postmortems: Postmortems
    metrics: Metrics = field(default_factory=Metrics)    # this bot's own registry (GET /metrics)
