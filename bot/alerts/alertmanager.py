"""Prometheus Alertmanager webhook (version 4): one AlertEvent per alert, keyed by its fingerprint.

A delivery that is not an Alertmanager webhook at all is refused (BadPayloadError); inside one, each alert
is read on its own: an invalid alert becomes a Rejection and the others are kept."""
from __future__ import annotations

from typing import Any

from bot.alerts.model import AlertEvent, BadPayloadError, InvalidAlert, Parsed, Reader, labels, loads, loose, per_alert


def parse(body: bytes) -> list[Parsed]:
    doc: Any = loads(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("alerts"), list):
        raise BadPayloadError("not an Alertmanager webhook: no `alerts` list")
    if loose(doc.get("version", "4"), 10) != "4":
        raise BadPayloadError(f"unsupported Alertmanager webhook version {loose(doc.get('version'), 10)}")
    if not doc["alerts"]:
        raise BadPayloadError("the `alerts` list is empty")
    return per_alert(doc["alerts"], _event, lambda i: f"alerts[{i}]")


def _event(alert: dict[str, Any], r: Reader) -> AlertEvent:
    tags, notes = r.mapping(alert.get("labels"), "labels"), r.mapping(alert.get("annotations"), "annotations")
    name = r.text(tags.get("alertname"), "labels.alertname", 200)
    fingerprint = r.text(alert.get("fingerprint"), "fingerprint", 200) or name
    if not fingerprint:
        raise InvalidAlert("missing_field", f"{r.where} has neither fingerprint nor labels.alertname")
    status = r.status(alert.get("status"))
    return AlertEvent(
        source="alertmanager", dedup_key=f"am:{fingerprint}",
        title=r.text(notes.get("summary"), "annotations.summary", 300) or name or "alert", status=status,
        severity=r.text(tags.get("severity"), "labels.severity", 40) or None,
        service=r.text(tags.get("service"), "labels.service", 64) or r.text(tags.get("job"), "labels.job", 64) or None,
        reason=r.text(notes.get("description"), "annotations.description", 1000) or None,
        runbook_url=r.text(notes.get("runbook_url"), "annotations.runbook_url", 500) or None,
        details=labels(tags),
    )
