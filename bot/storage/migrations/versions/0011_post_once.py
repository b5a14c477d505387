"""post once: attempts to post in slack_cards, storm summary claims, queued notices

Revision ID: 0011_post_once
Revises: 0010_rejected_alerts

- slack_cards.ts becomes nullable and gains `token`: a row with no ts records an attempt to post, stored
  before the message is sent (bot.slack.ledger), so a crash between posting and saving the ts is found out
  by looking the message up instead of posting it again.
- storm_summaries gains `version` and `claimed_until`: a summary stays dirty until a send of its latest
  version succeeded.
- notices: escalation thread posts and direct messages, one durable delivery per target.
"""
import sqlalchemy as sa
from alembic import op

revision = "0011_post_once"
down_revision = "0010_rejected_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slack_cards") as batch:
        batch.alter_column("ts", existing_type=sa.String(32), nullable=True)
        batch.add_column(sa.Column("token", sa.String(32), nullable=True))
    with op.batch_alter_table("storm_summaries") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("thread", sa.String(80), nullable=True),
        sa.Column("user", sa.String(64), nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
    )
    op.create_index("ix_notices_not_before", "notices", ["not_before"])
    op.create_index("ix_notices_done_at", "notices", ["done_at"])


def downgrade() -> None:
    op.drop_table("notices")
    with op.batch_alter_table("storm_summaries") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("version")
    op.execute("DELETE FROM slack_cards WHERE ts IS NULL")
    with op.batch_alter_table("slack_cards") as batch:
        batch.drop_column("token")
        batch.alter_column("ts", existing_type=sa.String(32), nullable=False)
