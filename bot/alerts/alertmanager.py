"""Prometheus Alertmanager webhook (version 4): one AlertEvent per alert, keyed by its fingerprint."""
from __future__ import annotations

import json
from typing import Any

from bot.alerts.model import AlertEvent, BadPayloadError, mapping, text


def parse(body: bytes) -> list[AlertEvent]:
    try:
        doc: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadPayloadError("body is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("alerts"), list):
        raise BadPayloadError("not an Alertmanager webhook: no `alerts` list")
    if str(doc.get("version", "4")) != "4":
        raise BadPayloadError(f"unsupported Alertmanager webhook version {text(doc.get('version'), 10)}")
    events = []
    for i, alert in enumerate(doc["alerts"]):
        if not isinstance(alert, dict):
            raise BadPayloadError(f"alerts[{i}] is not an object")
        events.append(_event(alert, i))
    return events


def _event(alert: dict[str, Any], i: int) -> AlertEvent:
    labels, notes = mapping(alert.get("labels")), mapping(alert.get("annotations"))
    fingerprint = alert.get("fingerprint") or labels.get("alertname")
    if not fingerprint:
        raise BadPayloadError(f"alerts[{i}] has neither fingerprint nor labels.alertname")
    status = alert.get("status")
    if status not in ("firing", "resolved"):
        raise BadPayloadError(f"alerts[{i}].status must be firing or resolved")
    name = labels.get("alertname", "alert")
    return AlertEvent(
        source="alertmanager", dedup_key=f"am:{text(fingerprint, 200)}",
        title=text(notes.get("summary") or name, 300), status=status,
        severity=labels.get("severity"), service=labels.get("service") or labels.get("job"),
        reason=text(notes.get("description"), 1000) or None, runbook_url=text(notes.get("runbook_url"), 500) or None,
        details={k: text(v, 200) for k, v in list(labels.items())[:20]},
    )
