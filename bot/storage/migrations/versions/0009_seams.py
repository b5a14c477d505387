"""cards from state: Slack locations in their own table; typed plans; operation leases; report runs

Revision ID: 0009
Revises: 0008

- `slack_cards` (owned by the Slack layer) takes over the slack_channel/slack_ts columns of incidents,
  alerts, pending_actions, checklist_runs and storm_summaries. Those columns are copied, not dropped: replicas
  of the previous version keep working against this schema during a rolling upgrade. The code no longer maps
  them; a later migration drops them once no older replica can be running.
- Stored plans become one JSON shape per operation (integrations.base.RollbackPlan, BackupPlan, ScalePlan):
  the adapter-specific `params` of each old plan move into the typed fields.
- pending_actions.running_until: the lease of a running operation.
- alerts.notified_at and checklist_runs.posted_at: the domain's own record that a card was delivered.
- report_runs: scheduled report slots, taken out of checklist_runs (where they were `report:<name>` rows).
"""
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

FROM = ("from_revision", "from_version", "from_status")
TO = ("to_revision", "to_version", "call", "to")


def typed_plan(old: dict[str, Any]) -> dict[str, Any]:
    """An old `{kind, target, current, desired, params}` plan in the typed shape."""
    if "params" not in old:
        return old
    params = old.get("params") or {}
    plan = {k: old[k] for k in ("kind", "target", "current", "desired")}
    if old["kind"] == "rollback":
        plan["from_ref"] = next((params[k] for k in FROM if k in params), params.get("expect", ""))
        plan["to_ref"] = next((params[k] for k in TO if k in params), "")
    elif old["kind"] == "backup":
        plan["name"] = params.get("snapshot") or params.get("job") or ""
    else:
        plan["from_replicas"] = int(params.get("from_replicas", 0))
        plan["replicas"] = int(params.get("replicas", 0))
    return plan


# (table, card kind, key column, location columns)
CARDS = [("incidents", "incident", "id", "slack_channel", "slack_ts"),
         ("alerts", "alert", "id", "slack_channel", "slack_ts"),
         ("pending_actions", "action", "id", "channel_id", "slack_ts"),
         ("checklist_runs", "checklist", "id", "slack_channel", "slack_ts"),
         ("storm_summaries", "storm", "channel", "slack_channel", "slack_ts")]


def upgrade() -> None:
    conn = op.get_bind()
    op.create_table(
        "slack_cards",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
    )
    for table, kind, key, channel, ts in CARDS:
        op.execute(f"INSERT INTO slack_cards (kind, key, channel, ts, posted_at) "
                   f"SELECT '{kind}', CAST({key} AS VARCHAR(64)), {channel}, {ts}, CURRENT_TIMESTAMP "
                   f"FROM {table} WHERE {channel} IS NOT NULL AND {ts} IS NOT NULL")
    op.add_column("alerts", sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE alerts SET notified_at = first_seen WHERE slack_ts IS NOT NULL")
    op.add_column("checklist_runs", sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE checklist_runs SET posted_at = finished_at WHERE slack_ts IS NOT NULL")
    op.add_column("pending_actions", sa.Column("running_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_pending_actions_running_until", "pending_actions", ["running_until"])
    _report_runs()
    _typed_plans(conn)


def _report_runs() -> None:
    op.create_table(
        "report_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("report", sa.String(64), nullable=False, index=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(8), nullable=False),
        sa.Column("summary", sa.Text, nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("report", "scheduled_for", name="uq_report_slot"),
    )
    # A report slot was stored as `report:<name>` with result ok (before it was posted: whether it reached
    # Slack is unknown) or skipped.
    op.execute("INSERT INTO report_runs (report, scheduled_for, started_at, result, summary, posted_at) "
               "SELECT substr(checklist, 8), scheduled_for, started_at, "
               "CASE WHEN result = 'skipped' THEN 'skipped' ELSE 'posted' END, summary, "
               "CASE WHEN result = 'skipped' THEN NULL ELSE finished_at END "
               "FROM checklist_runs WHERE checklist LIKE 'report:%'")
    op.execute("DELETE FROM checklist_runs WHERE checklist LIKE 'report:%'")


def _typed_plans(conn: sa.Connection) -> None:
    actions = sa.table("pending_actions", sa.column("id", sa.String), sa.column("plan", sa.Text))
    for row_id, plan in conn.execute(sa.select(actions.c.id, actions.c.plan)).all():
        new = json.dumps(typed_plan(json.loads(plan)), sort_keys=True)
        conn.execute(actions.update().where(actions.c.id == row_id).values(plan=new))


def downgrade() -> None:
    raise NotImplementedError("0009 has no downgrade: restore the database from a backup taken before upgrading")
