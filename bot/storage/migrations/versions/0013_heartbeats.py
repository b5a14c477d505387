"""heartbeats: one row per configured heartbeat (a dead-man's switch): its last beat and its missed-beat counters

Revision ID: 0013_heartbeats
Revises: 0012_approvals
"""
import sqlalchemy as sa
from alembic import op

from bot.storage.db import UTCDateTime

revision = "0013_heartbeats"
down_revision = "0012_approvals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("last_beat_at", UTCDateTime(), nullable=True),
        sa.Column("last_note", sa.String(200), nullable=True),
        sa.Column("beats", sa.Integer(), nullable=False),
        sa.Column("missed_at", UTCDateTime(), nullable=True),
        sa.Column("misses", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("heartbeats")
