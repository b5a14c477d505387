"""The tables: incidents and their timeline, the audit log, pending operations, alerts and their delivery,
checklist and report runs, on-call overrides, heartbeats, delivered Slack requests (retry dedupe) and where cards
were posted.

Domain tables know nothing of Slack: where a card was posted is the Slack layer's own table, `slack_cards`.

One module per idea; importing this package imports them all, so `Base.metadata` always holds every table
(Alembic's env.py and the tests' schema rely on it). Modules refer to each other's tables by name only (a
ForeignKey's "alerts.id"), never by import, so none depends on another but `base`."""
from __future__ import annotations

from bot.storage.models.alerts import Alert, AlertReceipt, AlertStatus, Heartbeat, RejectedAlert
from bot.storage.models.audit import AuditEntry
from bot.storage.models.base import Base, Severity
from bot.storage.models.incidents import Incident, IncidentChannel, IncidentEvent, IncidentStatus
from bot.storage.models.maintenance import MaintenanceHold, MaintenanceWindow
from bot.storage.models.oncall import OncallOverride
from bot.storage.models.operations import ActionApproval, ActionState, PendingAction
from bot.storage.models.outbox import Notice, OutboxMessage, StormSummary
from bot.storage.models.runs import ChecklistItem, ChecklistRun, ReportRun, SchedulerJob
from bot.storage.models.slack import Delivery, SlackCard

__all__ = [
    "ActionApproval", "ActionState", "Alert", "AlertReceipt", "AlertStatus", "AuditEntry", "Base", "ChecklistItem",
    "ChecklistRun", "Delivery", "Heartbeat", "Incident", "IncidentChannel", "IncidentEvent", "IncidentStatus",
    "MaintenanceHold", "MaintenanceWindow", "Notice", "OncallOverride", "OutboxMessage", "PendingAction",
    "RejectedAlert", "ReportRun", "SchedulerJob", "Severity", "SlackCard", "StormSummary",
]
