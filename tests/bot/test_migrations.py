"""Migration 0009 on a database full of 0008-era rows, on both databases: card locations move to slack_cards,
report slots to report_runs, stored plans become typed, and nothing is lost (the old columns stay, so replicas
of the previous version keep working during a rolling upgrade)."""
import json
import os
import threading
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from bot.storage import db
from integrations.base import PLAN, BackupPlan, RollbackPlan, ScalePlan

AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
OLD_PLANS = {
    "k8s": ("rollback", {"from_revision": "7", "to_revision": "6"}),
    "lambda": ("rollback", {"from_version": "3", "to_version": "2"}),
    "stack": ("rollback", {"from_status": "UPDATE_ROLLBACK_FAILED", "call": "continue_update_rollback"}),
    "rds": ("backup", {"snapshot": "opsbot-db-x"}),
    "job": ("backup", {"job": "db-opsbot-1"}),
    "scale": ("scale", {"from_replicas": "3", "replicas": "5"}),
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    base = os.environ.get("OPSBOT_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("OPSBOT_TEST_POSTGRES_URL not set")
    schema = f"opsbot_m_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def upgrade_to(engine, revision):
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def seed_0008(conn):
    run = dict(at=AT, f=False)
    conn.execute(text("INSERT INTO incidents (id, title, severity, status, opened_at, opened_by, slack_channel, "
                      "slack_ts) VALUES (1, 'db down', 'P1', 'open', :at, 'U1', 'C1', '111.1'), "
                      "(2, 'no card', 'P2', 'open', :at, 'U1', NULL, NULL)"), run)
    conn.execute(text("INSERT INTO incident_events (incident_id, at, kind, actor) VALUES (1, :at, 'opened', 'U1')"),
                 run)
    conn.execute(text("INSERT INTO alerts (id, source, dedup_key, active_key, title, severity, status, details, "
                      "channel, count, first_seen, last_seen, incident_id, slack_channel, slack_ts, "
                      "escalation_step, summarized) VALUES (1, 'sns', 'k1', 'k1', 'cpu', 'P2', 'firing', '{}', "
                      "'#alerts', 1, :at, :at, 1, 'C2', '222.2', 0, :f)"), run)
    for n, (key, (kind, params)) in enumerate(OLD_PLANS.items()):
        plan = {"kind": kind, "target": f"target {key}", "current": "now", "desired": "then", "params": params}
        conn.execute(text("INSERT INTO pending_actions (id, kind, subject, plan, state, requested_by, requested_at, "
                          "expires_at, channel_id, slack_ts) VALUES (:id, :kind, 'web', :plan, 'succeeded', 'U1', "
                          ":at, :at, 'C3', :ts)"),
                     dict(id=key, kind=kind, plan=json.dumps(plan), at=AT, ts=f"333.{n}"))
    conn.execute(text("INSERT INTO checklist_runs (id, checklist, scheduled_for, started_at, finished_at, trigger, "
                      "result, summary, slack_channel, slack_ts) VALUES (1, 'morning', :at, :at, :at, 'schedule', "
                      "'ok', '3 passed', 'C4', '444.4'), (2, 'report:weekly', :at, :at, :at, 'schedule', 'ok', "
                      "'report posted', NULL, NULL)"), run)
    conn.execute(text("INSERT INTO checklist_items (run_id, position, kind, label, result) "
                      "VALUES (1, 0, 'manual', 'check backups', 'todo')"))
    conn.execute(text("INSERT INTO storm_summaries (channel, slack_channel, slack_ts, dirty, updated_at) "
                      "VALUES ('#alerts', 'C2', '555.5', :f, :at)"), run)


def test_0009_moves_locations_reports_and_plans_and_loses_nothing(empty_db):
    engine = db.make_engine(empty_db)
    try:
        upgrade_to(engine, "0008")
        with engine.begin() as conn:
            seed_0008(conn)
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
        with engine.connect() as conn:
            cards = set(conn.execute(text("SELECT kind, key, channel, ts FROM slack_cards")).all())
            reports = conn.execute(text("SELECT report, result, posted_at IS NOT NULL FROM report_runs")).all()
            runs = conn.execute(text("SELECT checklist, posted_at IS NOT NULL FROM checklist_runs")).all()
            plans = dict(conn.execute(text("SELECT id, plan FROM pending_actions")).all())
            kept = conn.execute(text("SELECT count(*) FROM incident_events")).scalar()
            items = conn.execute(text("SELECT count(*) FROM checklist_items")).scalar()
            notified = conn.execute(text("SELECT notified_at IS NOT NULL FROM alerts")).scalar()
            old = conn.execute(text("SELECT slack_ts FROM incidents WHERE id = 1")).scalar()
    finally:
        engine.dispose()
    assert {("incident", "1", "C1", "111.1"), ("alert", "1", "C2", "222.2"), ("checklist", "1", "C4", "444.4"),
            ("storm", "#alerts", "C2", "555.5"), ("action", "k8s", "C3", "333.0")} <= cards
    assert len(cards) == 5 + len(OLD_PLANS) - 1
    assert reports == [("weekly", "posted", True)] and runs == [("morning", True)]
    typed = {key: PLAN.validate_json(plan) for key, plan in plans.items()}
    assert typed["k8s"] == RollbackPlan(target="target k8s", current="now", desired="then", from_ref="7", to_ref="6")
    assert (typed["stack"].from_ref, typed["stack"].to_ref) == ("UPDATE_ROLLBACK_FAILED", "continue_update_rollback")
    assert isinstance(typed["job"], BackupPlan) and typed["job"].name == "db-opsbot-1"
    assert isinstance(typed["scale"], ScalePlan) and (typed["scale"].from_replicas, typed["scale"].replicas) == (3, 5)
    assert (kept, items, notified, old) == (1, 1, True, "111.1")       # nothing cascaded away; old columns stay


@pytest.mark.postgres
@pytest.mark.parametrize("empty_db", ["postgres"], indirect=True)
def test_replicas_migrating_at_once_migrate_once(empty_db):
    """The migration Job and three replicas start together on an empty schema: all four succeed, at head."""
    # Migrations that wait on each other (in PostgreSQL or in Python's import locks) fail in 10 s instead of
    # holding the schema, and this test's teardown, forever
    give_up = quote("-clock_timeout=10s -cidle_in_transaction_session_timeout=10s ")
    url = empty_db.replace("options=", f"options={give_up}", 1)
    engines = [create_engine(url) for _ in range(4)]
    start, errors = threading.Barrier(len(engines)), []

    def migrate(engine):
        start.wait(timeout=10)
        try:
            db.upgrade(engine)
        except Exception as exc:            # the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(e,), daemon=True) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "migrations still waiting on each other after 30 s"
    assert errors == []
    assert db.current_revision(engines[0]) == db.head_revision()
    for engine in engines:
        engine.dispose()
