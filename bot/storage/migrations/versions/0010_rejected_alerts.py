"""rejected_alerts: alerts a receiver refused while storing the rest of their delivery

Revision ID: 0010_rejected_alerts
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

from bot.storage.db import UTCDateTime

revision = "0010_rejected_alerts"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rejected_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("receiver", sa.String(16), nullable=False),
        sa.Column("receipt", sa.String(200), nullable=False),
        sa.Column("item", sa.Integer(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.UniqueConstraint("receipt", "item", name="uq_rejected_alert"),
    )
    op.create_index("ix_rejected_alerts_received_at", "rejected_alerts", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_rejected_alerts_received_at", "rejected_alerts")
    op.drop_table("rejected_alerts")
