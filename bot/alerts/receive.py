"""The HTTP side of alarms: POST /alerts/{sns,alertmanager,webhook} -> verify, parse, store; answer at once.

Bad or unauthenticated payloads get a 4xx with the reason and are logged; nothing reaches Slack from
here (the outbox does that from the database).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.alerts import alertmanager, sns, webhook
from bot.alerts.model import AlertEvent, BadPayloadError
from bot.alerts.service import Alerts

log = logging.getLogger(__name__)
MAX_BODY = 1_000_000
KINDS = ("sns", "alertmanager", "webhook")


class Receivers:
    def __init__(self, alerts: Alerts, *, certs: sns.CertificateCache | None = None,
                 environ: Mapping[str, str] = os.environ, on_stored: Callable[[], None] = lambda: None) -> None:
        self.alerts, self.config = alerts, alerts.config
        self.certs, self.environ = certs or sns.CertificateCache(), environ
        self.on_stored = on_stored                  # wakes the outbox

    def handle(self, kind: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for one delivery; never raises."""
        if len(body) > MAX_BODY:
            return 413, {"error": f"body larger than {MAX_BODY} bytes"}
        try:
            events = self._parse(kind, body, {k.lower(): v for k, v in headers.items()})
        except BadPayloadError as exc:
            log.warning("refused %s alert delivery: %s", kind, exc)
            return exc.status, {"error": str(exc)}
        if events is None:
            return 200, {"confirmed": True}
        try:
            result = self.alerts.ingest(events)
        except SQLAlchemyError:
            log.exception("could not store %d %s alert(s)", len(events), kind)
            return 503, {"error": "alert storage unavailable; retry later"}
        self.on_stored()
        return 202, {"accepted": result.accepted, "duplicates": result.duplicates, "alerts": list(result.alert_ids)}

    def _parse(self, kind: str, body: bytes, headers: Mapping[str, str]) -> list[AlertEvent] | None:
        alerts = self.config.alerts
        if kind == "alertmanager":
            return alertmanager.parse(body)
        if kind == "webhook":
            token = self.environ.get(alerts.webhook.token_env) if alerts.webhook.token_env else None
            secret = self.environ.get(alerts.webhook.hmac_secret_env) if alerts.webhook.hmac_secret_env else None
            webhook.authenticate(body, headers, token=token or None, hmac_secret=secret or None)
            return webhook.parse(body)
        message = sns.parse(body, alerts.sns, self.certs, self.config.services)
        if message.kind == "SubscriptionConfirmation":
            assert message.subscribe_url is not None
            self._confirm(message.subscribe_url)
            return None
        return message.events

    def _confirm(self, url: str) -> None:
        import httpx  # only for SNS subscriptions: most bots never confirm one

        try:
            httpx.get(url, timeout=5.0).raise_for_status()
        except httpx.HTTPError as exc:
            raise BadPayloadError(f"could not confirm the subscription ({type(exc).__name__})", status=502) from exc
        log.info("confirmed an SNS subscription")
