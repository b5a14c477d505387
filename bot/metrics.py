"""What `GET /metrics` shows, in Prometheus' text format: one `Metrics` (its own CollectorRegistry) per bot, so
that many bots in one process (the tests) never share a counter.

Counted as things happen: HTTP requests, command latency, Slack API calls (and 429s), alert cards delivered,
operation runs, checklist runs. Read at scrape time: the alert receivers' tallies (bot.alerts.rejected.Tally),
the outbox's depth and oldest pending age (one cheap query; a database that does not answer within
SCRAPE_TIMEOUT_S makes `opsbot_database_up` 0, never the scrape fail), the scheduler's leadership and the
escalator's last pass.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from bot.clock import Clock

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_TIMEOUT_S = 1.0
COMMAND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Tally(Protocol):
    """Counts by (receiver, reason) that a scrape reads (bot.alerts.rejected.Tally)."""

    def snapshot(self) -> dict[tuple[str, str], int]: ...


def status_class(status: str | int) -> str:
    """'2xx' for '200 OK' or 200."""
    return f"{str(status).strip()[:1] or '?'}xx"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter("opsbot_http_requests", "HTTP requests answered, by route and status class",
                                     ["route", "status"], registry=r)
        self.command_seconds = Histogram("opsbot_command_duration_seconds", "Time to answer a command",
                                         ["subcommand", "outcome"], buckets=COMMAND_BUCKETS, registry=r)
        self.slack_calls = Counter("opsbot_slack_api_calls", "Slack Web API calls, by method and result "
                                   "(ok, error, ratelimited)", ["method", "result"], registry=r)
        self.slack_rate_limited = Counter("opsbot_slack_rate_limited", "Slack answers with HTTP 429, by method",
                                          ["method"], registry=r)
        self.alerts_delivered = Counter("opsbot_alerts_delivered", "Alert cards posted or updated in Slack "
                                        "by the outbox", registry=r)
        self.operation_runs = Counter("opsbot_operation_runs", "Operations run to an end, by kind and outcome",
                                      ["kind", "outcome"], registry=r)
        self.checklist_runs = Counter("opsbot_checklist_runs", "Checklist runs, by result", ["result"], registry=r)
        self.escalator_last_pass = Gauge("opsbot_escalator_last_pass_timestamp_seconds",
                                         "When the escalator last finished a pass (Unix time)", registry=r)
        self.escalator_up = Gauge("opsbot_escalator_up", "1 when the escalator's last pass succeeded", registry=r)
        self._scrape = _ScrapeTime()
        r.register(self._scrape)

    def watch_receivers(self, received: Tally, duplicates: Tally, rejected: Tally, refused: Tally) -> None:
        self._scrape.tallies = (received, duplicates, rejected, refused)

    def watch_outbox(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._scrape.outbox = (sessions, clock)

    def watch_scheduler(self, leading: Callable[[], bool]) -> None:
        self._scrape.leading = leading

    def escalation_pass(self, *, ok: bool, at: float) -> None:
        self.escalator_up.set(1 if ok else 0)
        if ok:
            self.escalator_last_pass.set(at)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ScrapeTime(Collector):
    """What is read when Prometheus scrapes, not counted as it happens."""

    def __init__(self) -> None:
        self.tallies: tuple[Tally, Tally, Tally, Tally] | None = None
        self.outbox: tuple[sessionmaker[Session], Clock] | None = None
        self.leading: Callable[[], bool] | None = None
        self._lock = threading.Lock()           # one outbox query at a time, however many scrapers

    def describe(self) -> Iterable[Metric]:
        return []                               # collected lazily: no database query at registration

    def collect(self) -> Iterable[Metric]:
        if self.tallies is not None:
            yield from self._alerts(*self.tallies)
        if self.outbox is not None:
            yield from self._outbox(*self.outbox)
        if self.leading is not None:
            leader = GaugeMetricFamily("opsbot_scheduler_leader", "1 while this replica runs the schedule")
            leader.add_metric([], 1 if self.leading() else 0)
            yield leader

    @staticmethod
    def _alerts(received: Tally, duplicates: Tally, rejected: Tally, refused: Tally) -> Iterable[Metric]:
        families = (("opsbot_alerts_received", "Alerts stored, by receiver", received, "receiver"),
                    ("opsbot_alerts_deduplicated", "Alerts that repeated a stored one, by receiver", duplicates,
                     "receiver"),
                    ("opsbot_alerts_rejected", "Alerts rejected inside a delivery, by receiver and reason",
                     rejected, "reason"),
                    ("opsbot_alert_deliveries_refused", "Deliveries refused as a whole, by receiver and HTTP "
                     "status", refused, "status"))
        for name, doc, tally, second in families:
            labels = ["receiver"] if second == "receiver" else ["receiver", second]
            family = CounterMetricFamily(name, doc, labels=labels)
            for (receiver, reason), count in sorted(tally.snapshot().items()):
                family.add_metric([receiver] if second == "receiver" else [receiver, reason], count)
            yield family

    def _outbox(self, sessions: sessionmaker[Session], clock: Clock) -> Iterable[Metric]:
        from bot.storage.models import OutboxMessage

        up = GaugeMetricFamily("opsbot_database_up", "1 when the database answered this scrape's outbox query")
        try:
            with self._lock, sessions() as session:
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(text(f"SET LOCAL statement_timeout = {int(SCRAPE_TIMEOUT_S * 1000)}"))
                depth, oldest = session.execute(
                    select(func.count(OutboxMessage.id), func.min(OutboxMessage.created_at))
                    .where(OutboxMessage.sent_at.is_(None))).one()
                session.rollback()
        except SQLAlchemyError as exc:
            log.warning("metrics: the outbox query failed (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        pending = GaugeMetricFamily("opsbot_outbox_pending", "Alert messages stored and not yet sent to Slack")
        pending.add_metric([], depth or 0)
        yield pending
        age = GaugeMetricFamily("opsbot_outbox_oldest_pending_age_seconds",
                                "Age of the oldest unsent alert message (0 when none)")
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        age.add_metric([], max(0.0, (clock() - oldest).total_seconds()) if isinstance(oldest, datetime) else 0.0)
        yield age
