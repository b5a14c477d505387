"""the scheduler's job store, and per-item details of checklist runs

Revision ID: 0008
Revises: 0007

`apscheduler_jobs` has exactly the layout of APScheduler 3's SQLAlchemyJobStore (which would otherwise
create it on first start): creating it here keeps every table of the bot under Alembic.
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(191), primary_key=True),
        sa.Column("next_run_time", sa.Float(25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_apscheduler_jobs_next_run_time", "apscheduler_jobs", ["next_run_time"])
    with op.batch_alter_table("checklist_items") as batch:
        batch.add_column(sa.Column("details", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checklist_items") as batch:
        batch.drop_column("details")
    op.drop_table("apscheduler_jobs")
