"""typed plans

Revision ID: 0009
Revises: 0008

Stored plans become one JSON shape per operation (integrations.base.RollbackPlan, BackupPlan, ScalePlan):
the adapter-specific `params` of each old plan move into the typed fields.
"""
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

FROM = ("from_revision", "from_version", "from_status")
TO = ("to_revision", "to_version", "call", "to")


def typed_plan(old: dict[str, Any]) -> dict[str, Any]:
    """An old `{kind, target, current, desired, params}` plan in the typed shape."""
    if "params" not in old:
        return old
    params = old.get("params") or {}
    plan = {k: old[k] for k in ("kind", "target", "current", "desired")}
    if old["kind"] == "rollback":
        plan["from_ref"] = next((params[k] for k in FROM if k in params), params.get("expect", ""))
        plan["to_ref"] = next((params[k] for k in TO if k in params), "")
    elif old["kind"] == "backup":
        plan["name"] = params.get("snapshot") or params.get("job") or ""
    else:
        plan["from_replicas"] = int(params.get("from_replicas", 0))
        plan["replicas"] = int(params.get("replicas", 0))
    return plan


def upgrade() -> None:
    conn = op.get_bind()
    actions = sa.table("pending_actions", sa.column("id", sa.String), sa.column("plan", sa.Text))
    for row_id, plan in conn.execute(sa.select(actions.c.id, actions.c.plan)).all():
        new = json.dumps(typed_plan(json.loads(plan)), sort_keys=True)
        conn.execute(actions.update().where(actions.c.id == row_id).values(plan=new))


def downgrade() -> None:
    pass          # the typed shape is a superset of what old code needs only for display; no way back
