"""The HTTP side of alarms: POST /alerts/{sns,alertmanager,webhook} -> limits, verify, parse, store; answer at once.

A delivery is checked as a whole first: size and nesting (before any signature work), then credentials or
signature, then its shape. A delivery refused as a whole gets a 4xx with the reason. Inside an accepted
delivery each alert stands alone: every valid one is stored, every invalid one is rejected (recorded in
`rejected_alerts`, logged, counted; see bot.alerts.rejected) and named in the answer. The answer is 202 when
anything was stored, 400 when nothing in the delivery was valid, and 503 only when the database is
unavailable: a sender retries 5xx, and a retry cannot fix bad data.

Each delivery has a receipt, the name a retry of it repeats (docs/alerts.md, "Redelivery"):
SNS `sns:<MessageId>`; Alertmanager `am:<SHA-256 of the body>`; the webhook `wh:key:<Idempotency-Key>`
when the sender sends that header, else `wh:<SHA-256 of the body>`.

Nothing reaches Slack from here (the outbox does that from the database).
"""
from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.alerts import alertmanager, sns, webhook
from bot.alerts.model import MAX_BODY, AlertEvent, BadPayloadError, Parsed, Rejection, check_limits
from bot.alerts.pipeline import Ingested
from bot.alerts.rejected import RejectedAlerts, Tally
from bot.alerts.service import Alerts

log = logging.getLogger(__name__)
KINDS = ("sns", "alertmanager", "webhook")
LISTED = 100                              # rejections named in one answer (all are recorded and counted)
__all__ = ["KINDS", "MAX_BODY", "Receivers", "StorageUnavailable"]
# What storing an alert raises when the database is down, or when it refuses the data (a value it cannot
# take: ValueError covers UnicodeEncodeError, TypeError a value no driver adapts). Anything else is a bug.
DATA_OR_STORAGE = (SQLAlchemyError, ValueError, TypeError)


class StorageUnavailable(Exception):
    """The database cannot be reached or is too busy: the sender should retry the delivery."""


Answer = tuple[int, dict[str, Any]]         # HTTP status, JSON body


@dataclass(frozen=True, slots=True)
class Delivery:
    items: list[Parsed]
    receipt: str


def unavailable(exc: BaseException) -> bool:
    """A connection-level failure (refused, lost, locked, pool exhausted), as opposed to a problem with the data."""
    return isinstance(exc, OperationalError | PoolTimeout) or (isinstance(exc, DBAPIError)
                                                                and exc.connection_invalidated)


def _nothing_valid(rejections: list[Rejection]) -> str:
    if not rejections:
        return "the delivery holds no alert"
    more = f" (and {len(rejections) - 1} more)" if len(rejections) > 1 else ""
    return f"no valid alert in the delivery: {rejections[0].reason}{more}"


class Receivers:
    def __init__(self, alerts: Alerts, *, certs: sns.CertificateCache | None = None,
                 environ: Mapping[str, str] = os.environ, on_stored: Callable[[], None] = lambda: None) -> None:
        self.alerts, self.config = alerts, alerts.config
        self.certs, self.environ = certs or sns.CertificateCache(), environ
        self.on_stored = on_stored                  # wakes the outbox
        self.rejected = Tally()                     # alerts rejected inside a delivery, by (receiver, reason code)
        self.refused = Tally()                      # deliveries refused as a whole, by (receiver, HTTP status)
        self.received, self.duplicates = Tally(), Tally()   # alerts stored / repeated, by (receiver, "")
        self._rejections = RejectedAlerts(alerts.sessions, alerts.clock, self.rejected)

    def handle(self, kind: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """(HTTP status, JSON answer) for one delivery; raises only for a bug, never for bad input."""
        try:
            check_limits(body)
            delivery = self._parse(kind, body, {k.lower(): v for k, v in headers.items()})
        except BadPayloadError as exc:
            log.warning("refused %s alert delivery: %s", kind, exc)
            self.refused.add(kind, str(exc.status))
            return exc.status, {"error": str(exc)}
        if not isinstance(delivery, Delivery):
            return delivery
        try:
            return self._store(kind, delivery)
        except StorageUnavailable as exc:
            log.warning("could not store a %s delivery: the database is unavailable (%s)", kind, exc)
            return 503, {"error": "alert storage unavailable; retry later"}

    def _parse(self, kind: str, body: bytes, headers: Mapping[str, str]) -> Delivery | Answer:
        """The delivery's alerts, or the answer to an SNS message that holds none."""
        alerts = self.config.alerts
        if kind == "alertmanager":
            return Delivery(alertmanager.parse(body), f"am:{hashlib.sha256(body).hexdigest()}")
        if kind == "webhook":
            token = self.environ.get(alerts.webhook.token_env) if alerts.webhook.token_env else None
            secret = self.environ.get(alerts.webhook.hmac_secret_env) if alerts.webhook.hmac_secret_env else None
            webhook.authenticate(body, headers, token=token or None, hmac_secret=secret or None)
            return Delivery(webhook.parse(body), webhook.receipt(body, headers))
        message = sns.parse(body, alerts.sns, self.certs, self.config.services)
        if message.kind == "SubscriptionConfirmation":
            assert message.subscribe_url is not None
            self._confirm(message.subscribe_url)
            return 200, {"confirmed": True}
        if message.kind != "Notification":
            return 200, {"ignored": message.kind}
        return Delivery(message.events, message.receipt)

    def _store(self, kind: str, delivery: Delivery) -> Answer:
        events = [(i, item) for i, item in enumerate(delivery.items) if isinstance(item, AlertEvent)]
        rejections = [item for item in delivery.items if isinstance(item, Rejection)]
        result = Ingested(0, 0, ())
        if events:
            result, unstorable = self._ingest(kind, events, delivery.receipt)
            rejections = sorted(rejections + unstorable, key=lambda r: r.index)
        if rejections:
            self._rejections.record(kind, delivery.receipt, rejections)
        listed = [{"index": r.index, "reason": r.reason} for r in rejections[:LISTED]]
        self.received.add(kind, "", result.accepted)
        self.duplicates.add(kind, "", result.duplicates)
        if result.accepted + result.duplicates == 0:
            return 400, {"error": _nothing_valid(rejections), "rejected": listed, "rejected_total": len(rejections)}
        self.on_stored()
        return 202, {"accepted": result.accepted, "duplicates": result.duplicates, "alerts": list(result.alert_ids),
                     "rejected": listed, "rejected_total": len(rejections)}

    def _ingest(self, kind: str, events: list[tuple[int, AlertEvent]],
                receipt: str) -> tuple[Ingested, list[Rejection]]:
        """Store the batch in one go; if the database refuses its data, store the alerts one by one (each
        under its own receipt, `<receipt>#<index>`, so a retry of this delivery is still recognized) and
        reject the ones it refuses."""
        try:
            return self._ingest_batch([event for _, event in events], receipt), []
        except DATA_OR_STORAGE as exc:
            if unavailable(exc):
                raise StorageUnavailable(type(exc).__name__) from exc
            log.warning("a batch of %d %s alerts could not be stored in one go (%s); storing them one by one",
                        len(events), kind, type(exc).__name__)
        results, unstorable = [], []
        for index, event in events:
            try:
                results.append(self.alerts.ingest([event], receipt=f"{receipt}#{index}"))
            except DATA_OR_STORAGE as exc:        # a rejection, unless the database is unavailable
                if unavailable(exc):
                    raise StorageUnavailable(type(exc).__name__) from exc
                unstorable.append(Rejection(index, "unstorable", f"alert {index} could not be stored "
                                                                 f"({type(exc).__name__})", event.title[:300]))
        return Ingested(sum(r.accepted for r in results), sum(r.duplicates for r in results),
                        tuple(i for r in results for i in r.alert_ids)), unstorable

    def _ingest_batch(self, events: list[AlertEvent], receipt: str) -> Ingested:
        """One more try when the database was busy or unreachable (SQLite's write lock held past its busy
        timeout by a concurrent batch, a dropped connection): the receipt makes the second try safe, and it
        spares the sender a retry. A second failure is the sender's 503."""
        try:
            return self.alerts.ingest(events, receipt=receipt)
        except DATA_OR_STORAGE as exc:
            if not unavailable(exc):
                raise
            log.info("storing a delivery failed (%s); trying once more", type(exc).__name__)
        return self.alerts.ingest(events, receipt=receipt)

    def _confirm(self, url: str) -> None:
        import httpx  # only for SNS subscriptions: most bots never confirm one

        try:
            httpx.get(url, timeout=5.0).raise_for_status()
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise BadPayloadError(f"could not confirm the subscription ({type(exc).__name__})", status=502) from exc
        log.info("confirmed an SNS subscription")
