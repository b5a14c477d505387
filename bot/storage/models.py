"""The tables: incidents and their timeline, the audit log, pending operations, alerts and their delivery,
checklist and report runs, on-call overrides, heartbeats, delivered Slack requests (retry dedupe) and where cards
were posted.

Domain tables know nothing of Slack: where a card was posted is the Slack layer's own table, `slack_cards`."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, Text, Unicode, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.storage.db import UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


class Severity(enum.StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class IncidentStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16), default=IncidentStatus.OPEN.value, index=True)
    service: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime]
    opened_by: Mapped[str] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    # Steps of its severity's escalation policy already taken (here, or by its alert). When the next falls
    # due is worked out from the policy each pass (bot.alerts.incident_escalation); taking a step is a
    # compare-and-set on this count, so replicas and restarts take each step once. NULL: opened before
    # incidents escalated (migration 0013), so it never does.
    escalation_step: Mapped[int | None] = mapped_column(Integer, default=0, server_default="0")

    events: Mapped[list[IncidentEvent]] = relationship(
        back_populates="incident", order_by="IncidentEvent.id", cascade="all, delete-orphan"
    )


class IncidentEvent(Base):
    """One line of an incident's timeline: opened, acknowledged, resolved, a note."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)

    incident: Mapped[Incident] = relationship(back_populates="events")


class IncidentChannel(Base):
    """An incident's own Slack channel, from the request to its archiving: one row per incident, so it is asked
    for once whatever retries or replicas do. The Slack layer works through it step by step (create, invite,
    post and pin the card, mirror the timeline, archive), claiming the row (`claimed_until`) for each pass and
    recording each step as done; `create_started_at` is set, and committed, before conversations.create is
    called, so a crash or a lost answer leads to looking the name up instead of creating a second channel."""

    __tablename__ = "incident_channels"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))                 # without '#'; suffixed when the name is taken
    channel_id: Mapped[str | None] = mapped_column(String(32))    # Slack's id, once created (or found)
    state: Mapped[str] = mapped_column(String(16), index=True)    # creating | ready | failed | archiving | archived
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    origin_channel: Mapped[str | None] = mapped_column(String(64))   # where "the channel is ready" is said
    origin_thread: Mapped[str | None] = mapped_column(String(80))    # ... under this card ("incident:12")
    create_started_at: Mapped[datetime | None]
    invited_at: Mapped[datetime | None]
    pinned_at: Mapped[datetime | None]
    mirrored_through: Mapped[int] = mapped_column(Integer, default=0)   # the last timeline event posted there
    archive_requested_by: Mapped[str | None] = mapped_column(String(64))
    archived_at: Mapped[datetime | None]
    not_before: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))


class AuditEntry(Base):
    """One row per `/ops` invocation (or button click), whatever its outcome."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    user_id: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))          # slack | console | button | mention | operation
    command: Mapped[str] = mapped_column(Text)
    subcommand: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))         # ok | usage | not_found | not_allowed | conflict | error
    error_ref: Mapped[str | None] = mapped_column(String(16))
    duration_ms: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)          # e.g. the outcome of a confirmed operation


class ActionState(enum.StrEnum):
    AWAITING = "awaiting_confirmation"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"          # its lease ran out while running: the replica died, outcome unknown


class PendingAction(Base):
    """A destructive operation (rollback, backup, scale) from proposal to outcome.

    The state column is the once-only guard: confirming is a compare-and-set from
    `awaiting_confirmation` to `running`, so a double click or a retried delivery runs it once.
    One that needs `approvals_required` different people (four-eyes) collects an `action_approvals`
    row per person first; the approval that completes the count makes the compare-and-set.
    While running, the replica running it renews `running_until`; a lease that runs out means that
    replica died, and any replica marks the operation `interrupted` (never re-applied).
    """

    __tablename__ = "pending_actions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))             # rollback | backup | scale | restart
    subject: Mapped[str] = mapped_column(String(64))          # the service or database name
    plan: Mapped[str] = mapped_column(Text)                   # JSON: target, current, desired, params
    state: Mapped[str] = mapped_column(String(24), index=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    channel_id: Mapped[str | None] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(Text)
    running_until: Mapped[datetime | None] = mapped_column(index=True)
    approvals_required: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    approvals: Mapped[list[ActionApproval]] = relationship(
        order_by="ActionApproval.id", cascade="all, delete-orphan", lazy="selectin")


class ActionApproval(Base):
    """One person's Confirm of a pending action. Unique per (action, person): a double click, a retried
    delivery or a racing replica can never count one person twice."""

    __tablename__ = "action_approvals"
    __table_args__ = (UniqueConstraint("action_id", "user_id", name="uq_action_approval"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[str] = mapped_column(String(32), ForeignKey("pending_actions.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class AlertStatus(enum.StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Alert(Base):
    """One alarm as people see it: a dedup key's life from first firing to resolution.

    `active_key` equals `dedup_key` while the alert is not resolved and is NULL afterwards; its unique
    constraint makes "one live alert per key" hold on SQLite and PostgreSQL alike, even under races.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))              # sns | alertmanager | webhook
    dedup_key: Mapped[str] = mapped_column(String(255), index=True)
    active_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    severity: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16), index=True)
    service: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text, default="{}")     # JSON: labels, annotations, trigger
    runbook_url: Mapped[str | None] = mapped_column(String(500))
    channel: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    silenced_until: Mapped[datetime | None]
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    summarized: Mapped[bool] = mapped_column(default=False)              # folded into its channel's storm summary
    escalation_step: Mapped[int] = mapped_column(Integer, default=0)     # steps already taken
    next_escalation_at: Mapped[datetime | None] = mapped_column(index=True)   # NULL: nothing more to do
    escalated_to: Mapped[str | None] = mapped_column(String(200))
    notified_at: Mapped[datetime | None]                  # when its own card first reached the channel


class AlertReceipt(Base):
    """A message id a sender may deliver again (SNS retries reuse MessageId): seen once, processed once."""

    __tablename__ = "alert_receipts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)


class RejectedAlert(Base):
    """An alert a receiver refused while keeping the rest of its delivery: why, and what it looked like.
    One row per (receipt, item): a redelivery of the same batch adds nothing."""

    __tablename__ = "rejected_alerts"
    __table_args__ = (UniqueConstraint("receipt", "item", name="uq_rejected_alert"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receiver: Mapped[str] = mapped_column(String(16))            # sns | alertmanager | webhook
    receipt: Mapped[str] = mapped_column(String(200))            # the delivery (see bot.alerts.receive)
    item: Mapped[int] = mapped_column(Integer)                   # the alert's index in the delivery
    received_at: Mapped[datetime] = mapped_column(index=True)
    code: Mapped[str] = mapped_column(String(32))                # bot.alerts.model.Rejection.code
    reason: Mapped[str] = mapped_column(String(300))
    excerpt: Mapped[str] = mapped_column(Text)                   # the start of the alert, made safe


class OutboxMessage(Base):
    """A Slack post or update still to be made for an alert. Pending updates of one alert coalesce:
    `pending_key` is unique while unsent, so a new change refreshes the same row instead of adding one."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(64), index=True)
    pending_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    not_before: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))


class StormSummary(Base):
    """One message per channel standing for the alerts a storm folded into it; re-rendered when `dirty`.
    `version` counts the changes; a worker claims the summary (`claimed_until`) and marks it clean only if no
    change came while it was sending, so a crash or a failed send leaves it dirty."""

    __tablename__ = "storm_summaries"

    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    dirty: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]


class Notice(Base):
    """A message to people that must arrive once: a line in a card's thread, or a direct message (each
    target of an escalation step is one row). Queued in the transaction that decided it; the outbox sends it."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)          # e.g. esc:<alert>:<step>:<target>:<ms>
    channel: Mapped[str | None] = mapped_column(String(64))            # a channel post (under `thread`, if set)
    thread: Mapped[str | None] = mapped_column(String(80))             # the card it replies to: "alert:12"
    user: Mapped[str | None] = mapped_column(String(64))               # a direct message to this user
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    not_before: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    done_at: Mapped[datetime | None] = mapped_column(index=True)      # delivered, or given up (see last_error)
    last_error: Mapped[str | None] = mapped_column(String(200))


class ChecklistRun(Base):
    """One run of a checklist. A scheduled run is unique per (checklist, scheduled_for): a second replica or
    a restart that tries the same slot gets an IntegrityError and does nothing."""

    __tablename__ = "checklist_runs"
    __table_args__ = (UniqueConstraint("checklist", "scheduled_for", name="uq_checklist_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checklist: Mapped[str] = mapped_column(String(64), index=True)
    scheduled_for: Mapped[datetime]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    trigger: Mapped[str] = mapped_column(String(16))             # schedule | manual
    requested_by: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(8))               # ok|warn|fail|error|running|skipped
    summary: Mapped[str | None] = mapped_column(Text)
    posted_at: Mapped[datetime | None]                   # when its report reached the channel (scheduled runs)
    items: Mapped[list[ChecklistItem]] = relationship(order_by="ChecklistItem.position", cascade="all, delete-orphan")


class ChecklistItem(Base):
    __tablename__ = "checklist_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("checklist_runs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(300))
    result: Mapped[str] = mapped_column(String(8))               # ok | warn | fail | todo | done | maint
    reason: Mapped[str | None] = mapped_column(Text)
    done_by: Mapped[str | None] = mapped_column(String(64))
    done_at: Mapped[datetime | None]
    details: Mapped[str | None] = mapped_column(Text)            # every finding, for the report's thread


class ReportRun(Base):
    """One slot of a scheduled report, unique per (report, scheduled_for) like checklist runs."""

    __tablename__ = "report_runs"
    __table_args__ = (UniqueConstraint("report", "scheduled_for", name="uq_report_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report: Mapped[str] = mapped_column(String(64), index=True)
    scheduled_for: Mapped[datetime]
    started_at: Mapped[datetime]
    result: Mapped[str] = mapped_column(String(8))               # running | posted | failed | skipped
    summary: Mapped[str | None] = mapped_column(Text)
    posted_at: Mapped[datetime | None]


class OncallOverride(Base):
    """Someone covers a rotation for a while (`/ops oncall override`); the newest covering override wins."""

    __tablename__ = "oncall_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rotation: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Delivery(Base):
    """A Slack request we have accepted; the unique key makes a retried delivery a no-op."""

    __tablename__ = "deliveries"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)


class SlackCard(Base):
    """Where the Slack layer posted a card (a message rendered from one row), so it can redraw it in place,
    or a keyed message (kind "message") that must be posted once. Owned by bot.slack: nothing else reads or
    writes it.

    A row with no `ts` is an attempt to post whose outcome is not known yet: `token` names the attempt and
    `posted_at` is when it began (see bot.slack.ledger)."""

    __tablename__ = "slack_cards"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)      # bot.reply.CardKind, or "message"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))                     # the channel id Slack answered with
    ts: Mapped[str | None] = mapped_column(String(32))
    posted_at: Mapped[datetime]
    token: Mapped[str | None] = mapped_column(String(32))


class SchedulerJob(Base):
    """APScheduler 3's SQLAlchemyJobStore table (it reads and writes it; we only own its migration and clean it)."""

    __tablename__ = "apscheduler_jobs"

    id: Mapped[str] = mapped_column(Unicode(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25), index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary)


class Heartbeat(Base):
    """A configured heartbeat's beats (bot.alerts.heartbeats): since when it is watched, its last beat, and the
    two counters a missed beat's compare-and-set checks, so a silence fires once across replicas."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    since: Mapped[datetime]                                   # first watched: the first pass or beat that saw it
    last_beat_at: Mapped[datetime | None]
    last_note: Mapped[str | None] = mapped_column(String(200))   # the last beat's `note`, made safe
    beats: Mapped[int] = mapped_column(Integer, default=0)       # beats received, ever
    missed_at: Mapped[datetime | None]                        # when this silence last fired; NULL after a beat
    misses: Mapped[int] = mapped_column(Integer, default=0)      # silences fired, ever


class MaintenanceWindow(Base):
    """A maintenance window: while it is open, its services' alerts are stored but not posted (held), their
    escalation pauses, and checklists report their checks as in maintenance.

    `key` names it once: `adhoc:<hex>` for one started by hand, `sched:<spec>:<start>` for an occurrence of a
    scheduled window (stored when it first opens; a second replica's insert of the same key does nothing).
    Closing is a compare-and-set on `closed_at`, so its summary is queued once."""

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    services: Mapped[str] = mapped_column(Text)                  # names separated by spaces; "*" for all
    reason: Mapped[str | None] = mapped_column(String(300))
    name: Mapped[str | None] = mapped_column(String(64))         # a scheduled window's name in the config
    channel: Mapped[str] = mapped_column(String(64))             # where it is announced
    started_by: Mapped[str] = mapped_column(String(64))          # a user id, or "schedule"
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]                                    # planned end; set to the end time when ended early
    closed_at: Mapped[datetime | None] = mapped_column(index=True)
    closed_by: Mapped[str | None] = mapped_column(String(64))    # a user id, or "opsbot" when its time ran out
    held: Mapped[int | None] = mapped_column(Integer)            # at close: alerts held during it
    firing: Mapped[int | None] = mapped_column(Integer)          # at close: ... of them still live


class MaintenanceHold(Base):
    """An alert whose Slack messages a maintenance window held back, until the window ends (`released_at`)."""

    __tablename__ = "maintenance_holds"

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    held_at: Mapped[datetime]                                    # first held since it was last released
    released_at: Mapped[datetime | None] = mapped_column(index=True)
