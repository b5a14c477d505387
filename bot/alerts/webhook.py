"""The generic JSON webhook: our documented format, authenticated by a bearer token or an HMAC signature.

    POST /alerts/webhook
    Authorization: Bearer <token>                  (or)   X-Opsbot-Signature: sha256=<hex HMAC of the body>
    {"source": "uptime", "dedup_key": "api-down", "title": "API down", "severity": "critical",
     "status": "firing", "service": "backend", "details": {"region": "eu"}, "runbook_url": "https://…"}

A body may also be a list of such objects.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from bot.alerts.model import AlertEvent, BadPayloadError, mapping, text

REQUIRED = ("dedup_key", "title")


def authenticate(body: bytes, headers: Mapping[str, str], *, token: str | None, hmac_secret: str | None) -> None:
    """Raise BadPayloadError(401) unless the request carries the configured token or a valid HMAC."""
    if token is None and hmac_secret is None:
        raise BadPayloadError("the generic webhook is not enabled (set alerts.webhook.token_env or "
                              "hmac_secret_env)", status=403)
    auth = headers.get("authorization", "")
    if token is not None and auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].strip(), token):
        return
    signature = headers.get("x-opsbot-signature", "")
    if hmac_secret is not None and signature.startswith("sha256="):
        expected = hmac.new(hmac_secret.encode(), body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(signature[7:], expected):
            return
    raise BadPayloadError("missing or wrong credentials (Bearer token or X-Opsbot-Signature)", status=401)


def parse(body: bytes) -> list[AlertEvent]:
    try:
        doc: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadPayloadError("body is not JSON") from None
    items = doc if isinstance(doc, list) else [doc]
    if not items or len(items) > 500:
        raise BadPayloadError("send between 1 and 500 alerts per request")
    return [_event(item, i) for i, item in enumerate(items)]


def _event(item: Any, i: int) -> AlertEvent:
    if not isinstance(item, dict):
        raise BadPayloadError(f"alert {i} is not an object")
    missing = [k for k in REQUIRED if not item.get(k)]
    if missing:
        raise BadPayloadError(f"alert {i} is missing {', '.join(missing)}")
    status = item.get("status", "firing")
    if status not in ("firing", "resolved"):
        raise BadPayloadError(f"alert {i}: status must be firing or resolved")
    details = mapping(item.get("details"))
    source = text(item.get("source") or "webhook", 40)
    return AlertEvent(
        source="webhook", dedup_key=f"wh:{source}:{text(item['dedup_key'], 180)}", title=text(item["title"], 300),
        status=status, severity=text(item.get("severity"), 20) or None, service=text(item.get("service"), 64) or None,
        reason=text(item.get("reason") or details.get("reason"), 1000) or None,
        runbook_url=text(item.get("runbook_url"), 500) or None,
        details={text(k, 40): text(v, 200) for k, v in list(details.items())[:20]},
    )
