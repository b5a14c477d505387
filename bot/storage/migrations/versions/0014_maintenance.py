"""maintenance windows: ad-hoc and scheduled windows, and the alerts they hold back

Revision ID: 0014_maintenance
Revises: 0013_heartbeats

- maintenance_windows: one row per window (an ad-hoc one, or one occurrence of a scheduled one), unique key.
- maintenance_holds: one row per alert whose messages a window held back, released when the window ends.
"""
import sqlalchemy as sa
from alembic import op

from bot.storage.db import UTCDateTime

revision = "0014_maintenance"
down_revision = "0013_heartbeats"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("services", sa.Text, nullable=False),
        sa.Column("reason", sa.String(300)),
        sa.Column("name", sa.String(64)),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("started_by", sa.String(64), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime()),
        sa.Column("closed_by", sa.String(64)),
        sa.Column("held", sa.Integer),
        sa.Column("firing", sa.Integer),
    )
    op.create_index("ix_maintenance_windows_closed_at", "maintenance_windows", ["closed_at"])
    op.create_table(
        "maintenance_holds",
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("held_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime()),
    )
    op.create_index("ix_maintenance_holds_released_at", "maintenance_holds", ["released_at"])


def downgrade() -> None:
    op.drop_table("maintenance_holds")
    op.drop_table("maintenance_windows")
