"""incident escalation: the steps an incident has taken

Revision ID: 0015_incident_escalation
Revises: 0014_maintenance

- incidents gains `escalation_step`: steps of its severity's policy already taken. New incidents start at 0
  (the column's default). Incidents already there are set to NULL, which means "never escalates": before this
  version incidents did not escalate, and an upgrade must not page everyone at once for every step of every
  old open incident. (A plain ADD COLUMN and an UPDATE: on SQLite, recreating `incidents` to change a
  default would cascade-delete its timeline.)
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_incident_escalation"
down_revision = "0014_maintenance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("escalation_step", sa.Integer, nullable=True, server_default="0"))
    op.execute("UPDATE incidents SET escalation_step = NULL")


def downgrade() -> None:
    op.drop_column("incidents", "escalation_step")      # SQLite 3.35+ drops a column in place (no cascade)
