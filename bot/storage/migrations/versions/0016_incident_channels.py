"""incident channels: one Slack channel per incident, created, filled and archived step by step

Revision ID: 0016_incident_channels
Revises: 0015_incident_escalation

- incident_channels: one row per incident that has (or is getting) its own channel; see
  bot.storage.models.IncidentChannel and bot.slack.incident_channels.
"""
import sqlalchemy as sa
from alembic import op

from bot.storage.db import UTCDateTime

revision = "0016_incident_channels"
down_revision = "0015_incident_escalation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_channels",
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("origin_channel", sa.String(64), nullable=True),
        sa.Column("origin_thread", sa.String(80), nullable=True),
        sa.Column("create_started_at", UTCDateTime(), nullable=True),
        sa.Column("invited_at", UTCDateTime(), nullable=True),
        sa.Column("pinned_at", UTCDateTime(), nullable=True),
        sa.Column("mirrored_through", sa.Integer, nullable=False, server_default="0"),
        sa.Column("archive_requested_by", sa.String(64), nullable=True),
        sa.Column("archived_at", UTCDateTime(), nullable=True),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(200), nullable=True),
    )
    op.create_index("ix_incident_channels_state", "incident_channels", ["state"])


def downgrade() -> None:
    op.drop_table("incident_channels")
