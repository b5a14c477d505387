"""escalation state on alerts

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

from bot.storage.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("escalation_step", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_escalation_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("escalated_to", sa.String(200), nullable=True))
        batch.create_index("ix_alerts_next_escalation_at", ["next_escalation_at"])


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_next_escalation_at")
        batch.drop_column("escalated_to")
        batch.drop_column("next_escalation_at")
        batch.drop_column("escalation_step")
