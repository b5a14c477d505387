"""`opsbot serve` runs the scheduler when something is scheduled: the first process leads and stores the jobs;
a second process on the same database stays a standby."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, text

from tests.waiting import wait_until

CONFIG = {"timezone": "Europe/Berlin",
          "checklists": {"morning": {"schedule": "0 9 * * *", "checks": [{"check": "manual", "text": "Look"}]}},
          "reports": {"weekly": {"schedule": "0 9 * * mon"}}}


def test_serve_leads_the_schedule_and_a_second_process_waits(start_bot, db_url):
    first = start_bot(CONFIG)
    wait_until(lambda: "this replica now runs the schedule (2 job(s))" in "".join(first.log), timeout=15,
               what=f"the first process to lead; it logged {first.log}")
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            jobs = dict(conn.execute(text("SELECT id, next_run_time FROM apscheduler_jobs")).all())
    finally:
        engine.dispose()
    assert set(jobs) == {"checklist:morning", "report:weekly"}
    next_morning = datetime.fromtimestamp(jobs["checklist:morning"], UTC)
    assert next_morning.minute == 0 and next_morning.hour in (7, 8)           # 09:00 in Berlin, CEST or CET
    second = start_bot(CONFIG)
    wait_until(lambda: "another replica runs the schedule; this one stands by" in "".join(second.log), timeout=15,
               what="the second process to stand by")
    first.stop()
    wait_until(lambda: "this replica now runs the schedule" in "".join(second.log), timeout=15,
               what="the second process to lead once the first stopped")
