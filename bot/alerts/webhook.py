"""The generic JSON webhook: our documented format, authenticated by a bearer token or an HMAC signature.

    POST /alerts/webhook
    Authorization: Bearer <token>                  (or)   X-Opsbot-Signature: sha256=<hex HMAC of the body>
    {"source": "uptime", "dedup_key": "api-down", "title": "API down", "severity": "critical",
     "status": "firing", "service": "backend", "details": {"region": "eu"}, "runbook_url": "https://…"}

A body may also be a list of such objects. An `Idempotency-Key` header names the delivery: a retry that
repeats it changes nothing (without one, the body's SHA-256 names it).
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from bot.alerts.model import AlertEvent, BadPayloadError, Parsed, Reader, labels, loads, loose, per_alert, safe

MAX_ITEMS = 500
RECEIPT_KEY = 150                 # alert_receipts.key is 200 characters


def authenticate(body: bytes, headers: Mapping[str, str], *, token: str | None, hmac_secret: str | None) -> None:
    """Raise BadPayloadError(401) unless the request carries the configured token or a valid HMAC."""
    if token is None and hmac_secret is None:
        raise BadPayloadError("the generic webhook is not enabled (set alerts.webhook.token_env or "
                              "hmac_secret_env)", status=403)
    auth = headers.get("authorization", "")
    if token is not None and auth.startswith("Bearer ") and _same(auth[7:].strip(), token):
        return
    signature = headers.get("x-opsbot-signature", "")
    if hmac_secret is not None and signature.startswith("sha256="):
        expected = hmac.new(hmac_secret.encode(), body, hashlib.sha256).hexdigest()
        if _same(signature[7:], expected):
            return
    raise BadPayloadError("missing or wrong credentials (Bearer token or X-Opsbot-Signature)", status=401)


def _same(given: str, expected: str) -> bool:
    """Constant-time equality that also takes a header with non-ASCII characters (compare_digest's str
    form refuses those with a TypeError)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def parse(body: bytes) -> list[Parsed]:
    """Each item read on its own: an invalid one becomes a Rejection, the others are kept."""
    doc: Any = loads(body)
    items = doc if isinstance(doc, list) else [doc]
    if not items or len(items) > MAX_ITEMS:
        raise BadPayloadError(f"send between 1 and {MAX_ITEMS} alerts per request")
    return per_alert(items, _event, lambda i: f"alert {i}")


def receipt(body: bytes, headers: Mapping[str, str]) -> str:
    """The delivery's name: the sender's Idempotency-Key when it sends one, else the body's hash."""
    key = safe(headers.get("idempotency-key", "").strip())[:RECEIPT_KEY]
    return f"wh:key:{key}" if key else f"wh:{hashlib.sha256(body).hexdigest()}"


def _event(item: dict[str, Any], r: Reader) -> AlertEvent:
    key, title = r.text(item.get("dedup_key"), "dedup_key", 180), r.text(item.get("title"), "title", 300)
    r.required(dedup_key=key, title=title)
    status = r.status(item.get("status"), default="firing")
    details = r.mapping(item.get("details"), "details")
    source = r.text(item.get("source"), "source", 40) or "webhook"
    return AlertEvent(
        source="webhook", dedup_key=f"wh:{source}:{key}", title=title, status=status,
        severity=r.text(item.get("severity"), "severity", 40) or None,
        service=r.text(item.get("service"), "service", 64) or None,
        reason=r.text(item.get("reason"), "reason", 1000) or loose(details.get("reason"), 1000) or None,
        runbook_url=r.text(item.get("runbook_url"), "runbook_url", 500) or None,
        details=labels(details, key_limit=40),
    )
