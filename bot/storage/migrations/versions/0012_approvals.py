"""approvals: four-eyes confirmation of destructive operations

Revision ID: 0012_approvals
Revises: 0011_post_once

- pending_actions gains `approvals_required` (1 for every existing row: one Confirm runs it, as before).
- action_approvals: one row per person who confirmed a pending action, unique per (action, person).
"""
import sqlalchemy as sa
from alembic import op

from bot.storage.db import UTCDateTime

revision = "0012_approvals"
down_revision = "0011_post_once"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pending_actions") as batch:
        batch.add_column(sa.Column("approvals_required", sa.Integer, nullable=False, server_default="1"))
    op.create_table(
        "action_approvals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("action_id", sa.String(32), sa.ForeignKey("pending_actions.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("action_id", "user_id", name="uq_action_approval"),
    )


def downgrade() -> None:
    op.drop_table("action_approvals")
    with op.batch_alter_table("pending_actions") as batch:
        batch.drop_column("approvals_required")
