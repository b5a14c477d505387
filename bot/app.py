"""The composition root: the one place that builds the bot's parts from (settings, config) and wires them.

`build_runtime()` builds everything below the transports (database, adapters, services, the operation runner)
around a Board. `build_bot()` adds Slack: the Slack board, the Bolt app, the HTTP app and the background
workers. `Bot.run(transport)` starts every worker on one stop event, serves until the event is set (SIGTERM,
SIGINT), and joins them. The CLI only chooses the transport: HTTP (`opsbot serve`) or Socket Mode
(`opsbot socket`); both run exactly the same workers and the same HTTP app (alarm receivers, /healthz, /readyz).
"""
from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TextIO

from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.maintenance import Maintenance
from bot.alerts.overrides import Overrides
from bot.alerts.service import Alerts
from bot.clock import Clock, utcnow
from bot.config import OpsConfig
from bot.delivery import Board
from bot.incidents import Incidents
from bot.incidents.channels import IncidentChannels
from bot.incidents.postmortem import Postmortems
from bot.metrics import Metrics
from bot.operations import OperationRunner, Operations
from bot.runtime import Runtime
from bot.settings import Settings
from bot.storage import db
from integrations.base import Integrations

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.alerts.outbox import Outbox
    from bot.console import Console
    from bot.http import WsgiApp
    from bot.slack.board import SlackBoard

log = logging.getLogger(__name__)
BoardFactory = Callable[[sessionmaker[Session], Clock], Board]
Worker = Callable[[threading.Event], None]
DEMO_ESCALATOR_S = 1.0  # the demo's escalator pass interval: an Escalate press shows its notices at once
JOIN_S = 3.0            # after the HTTP drain (bot.transports.DRAIN_S), during which the workers stop too


def build_runtime(
    settings: Settings, config: OpsConfig, *, board: BoardFactory, clock: Clock = utcnow,
    integrations: Integrations | None = None, migrate: bool = True, metrics: Metrics | None = None,
) -> Runtime:
    """Everything below the transports: database, adapters, services, the operation runner.

    `board` makes the transport's Board from the sessions and clock (the Slack board keeps card locations in
    the database)."""
    from integrations.factory import build_integrations

    engine = db.make_engine(settings.database_url)
    if migrate:
        db.upgrade(engine)
    sessions = db.make_sessions(engine)
    the_board = board(sessions, clock)
    integ = integrations if integrations is not None else build_integrations(config, clock=clock)
    metrics = metrics or Metrics()
    runner = OperationRunner(sessions=sessions, clock=clock, settings=config.operations, integrations=integ,
                             board=the_board, permissions=config.permissions, metrics=metrics)
    return Runtime(
        settings=settings, config=config, engine=engine, sessions=sessions, integrations=integ, clock=clock,
        board=the_board, incidents=Incidents(sessions, clock), incident_channels=IncidentChannels(sessions, clock),
        alerts=Alerts(sessions, clock, config),
        oncall=Overrides(sessions, clock),
        operations=Operations(sessions=sessions, clock=clock, settings=config.operations,
                              permissions=config.permissions, runner=runner,
                              action_roles={a.name: a.roles for a in config.actions}),
        maintenance=Maintenance(sessions, clock, config),
        postmortems=Postmortems(sessions, clock), metrics=metrics,
    )


class Transport(Protocol):
    """How Slack reaches the bot. `serve` returns once `stop` is set."""

    def serve(self, bot: Bot, stop: threading.Event) -> None: ...


@dataclass(frozen=True, slots=True)
class Bot:
    rt: Runtime
    board: SlackBoard
    bolt: App
    outbox: Outbox
    http: WsgiApp                                 # receivers and health (+ /slack/events over HTTP)
    workers: tuple[tuple[str, Worker], ...]

    def run(self, transport: Transport, *, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        threads = [threading.Thread(target=_logged(name, work), args=(stop,), name=f"opsbot-{name}", daemon=True)
                   for name, work in self.workers]
        for thread in threads:
            thread.start()
        _freeze_startup_objects()
        try:
            transport.serve(self, stop)
        finally:
            stop.set()
            deadline = time.monotonic() + JOIN_S          # one budget for all: they stop side by side
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    log.warning("%s did not stop within %.0fs; leaving it", thread.name, JOIN_S)


def _freeze_startup_objects() -> None:
    """What startup built (config, SQLAlchemy, Bolt, ~100k objects) lives as long as the process: keep it out of
    the garbage collector's full passes, which otherwise walk it all (~55 ms holding the GIL) in the middle of a
    burst of Slack requests waiting for their acks."""
    gc.collect()
    gc.freeze()


def _logged(name: str, work: Worker) -> Worker:
    def run(stop: threading.Event) -> None:
        try:
            work(stop)
        except Exception:
            log.exception("%s stopped with an error", name)
    return run


def build_bot(settings: Settings, config: OpsConfig, *, socket_mode: bool = False, clock: Clock = utcnow,
              integrations: Integrations | None = None, token_verification: bool = True) -> Bot:
    """The Slack bot, for either transport: runtime, Slack board, Bolt app, HTTP app and workers."""
    from bot.alerts.escalator import Escalator
    from bot.alerts.outbox import Outbox
    from bot.alerts.receive import Receivers
    from bot.http import make_wsgi_app
    from bot.slack.board import SlackBoard
    from bot.slack.bolt import SLACK_PATH, AckGate, build_bolt_app, wsgi_handler
    from bot.slack.client import web_client
    from bot.slack.incident_channels import IncidentChannelWorker
    from bot.slack.middleware import prune_forever

    metrics = Metrics()
    rt = build_runtime(settings, config, clock=clock, integrations=integrations, metrics=metrics,
                       board=lambda sessions, clock: SlackBoard(web_client(settings, metrics=metrics), sessions, clock))
    board = rt.board
    assert isinstance(board, SlackBoard)
    gate = AckGate()      # work after an ack waits for the acks in flight (HTTP; Socket Mode acks on its socket)
    bolt = build_bolt_app(rt, board, gate=gate, token_verification=token_verification, socket_mode=socket_mode)
    outbox = Outbox(sessions=rt.sessions, clock=rt.clock, settings=config.alerts, board=board,
                    calendar=rt.maintenance.calendar, metrics=rt.metrics)
    escalator = Escalator(sessions=rt.sessions, clock=rt.clock, config=config, wake=outbox.wake, metrics=rt.metrics)
    rt.metrics.watch_outbox(rt.sessions, rt.clock)
    http = make_wsgi_app(rt.engine, Receivers(rt.alerts, on_stored=outbox.wake),
                         slack=None if socket_mode else (SLACK_PATH, wsgi_handler(bolt, settings, gate=gate)),
                         metrics=rt.metrics)
    workers: list[tuple[str, Worker]] = [
        ("outbox", outbox.run_forever), ("escalator", escalator.run_forever),
        ("operations", rt.operations.runner.run_forever), ("deliveries", lambda stop: prune_forever(rt, stop)),
        ("channels", IncidentChannelWorker(board=board, sessions=rt.sessions, clock=rt.clock, config=config,
                                           wake=outbox.wake).run_forever),
    ]
    if config.incidents.postmortems.remind_after is not None:
        from bot.alerts.postmortem_reminders import PostmortemReminders

        reminders = PostmortemReminders(sessions=rt.sessions, clock=rt.clock, config=config, wake=outbox.wake)
        workers.append(("postmortem-reminders", reminders.run_forever))
    scheduler = _scheduler(rt)
    if scheduler is not None:
        workers.append(("scheduler", scheduler))
    return Bot(rt=rt, board=board, bolt=bolt, outbox=outbox, http=http, workers=tuple(workers))


def _scheduler(rt: Runtime) -> Worker | None:
    """Scheduled checklists and reports, when any are configured (one replica leads; see schedules.scheduler)."""
    from schedules.scheduler import ScheduleRunner, job_specs

    scheduled = job_specs(rt.config)
    if not rt.config.scheduler.enabled or not scheduled:
        log.info("scheduler: %s", "disabled (scheduler.enabled: false)" if scheduled else "nothing scheduled")
        return None
    runner = ScheduleRunner(rt)
    rt.metrics.watch_scheduler(lambda: runner.leading)
    return runner.run_forever


def build_console(settings: Settings, config: OpsConfig, *, user_id: str, out: TextIO | None = None,
                  clock: Clock = utcnow, integrations: Integrations | None = None, demo: bool = False) -> Console:
    """The console transport: the same runtime and commands, printed to a terminal. With `demo` (what `make
    demo` runs) the console also delivers alarms as `serve` does: the outbox posts alert cards and notices to
    it and the escalator escalates, and `/ops demo alert` is registered. Never on a database a Slack bot uses:
    the console would take its cards."""
    from bot.alerts.escalator import Escalator
    from bot.alerts.outbox import Outbox
    from bot.console import Console, ConsoleBoard

    board = ConsoleBoard(out or sys.stdout)
    rt = build_runtime(settings, config, board=lambda sessions, clock: board, clock=clock, integrations=integrations)
    workers: list[tuple[str, Worker]] = []
    if demo:
        import commands

        commands.enable_demo()
        outbox = Outbox(sessions=rt.sessions, clock=rt.clock, settings=config.alerts, board=board,
                        calendar=rt.maintenance.calendar, interval_s=0.0)
        escalator = Escalator(sessions=rt.sessions, clock=rt.clock, config=config, wake=outbox.wake)
        workers = [("outbox", outbox.run_forever),
                   ("escalator", lambda stop: escalator.run_forever(stop, every_s=DEMO_ESCALATOR_S))]
    return Console(rt, board, user_id=user_id, workers=tuple(workers))
