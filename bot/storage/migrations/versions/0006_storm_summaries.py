"""storm summaries

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

from bot.storage.db import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("summarized", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "storm_summaries",
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("slack_channel", sa.String(32), nullable=True),
        sa.Column("slack_ts", sa.String(32), nullable=True),
        sa.Column("dirty", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("storm_summaries")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("summarized")
