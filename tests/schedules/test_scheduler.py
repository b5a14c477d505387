"""The scheduler, in process: APScheduler with its job store on the test database, the clock frozen and moved
by freezegun (after each move `wakeup()`, or the scheduler thread sleeps the real time it computed), reports
posted to the fake Slack Web API. Each test has its own database (pickled job state must not leak)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from bot.delivery import RetryPolicy
from integrations.base import Finding, Health, Integrations, check_key
from schedules.checklists import history, report_history
from schedules.leader import LOCK_NAME
from schedules.scheduler import JobSpec, ScheduleRunner
from tests.fakes.fake_slack import FakeSlack
from tests.waiting import wait_until

# freezegun answers time.monotonic() with frozen time too; the deadline helpers must see real time. And
# freezegun's start touches every attribute of every loaded module: kubernetes.client builds its (pydantic)
# models lazily on that touch, which fails on FakeDatetime, so it is left alone.
REAL_TIME_FOR = ["tests.waiting", "tests.fakes.fake_slack", "kubernetes"]


def morning(targets: Any, **extra: Any) -> dict[str, Any]:
    return {"timezone": "Europe/Berlin", "channels": {"default": "#oncall"},
            "services": [{"name": "backend", "health": {"url": f"{targets.url}/healthy"}},
                         {"name": "search", "health": {"url": f"{targets.url}/unhealthy"}}],
            "checklists": {"morning": {"schedule": "0 9 * * *", "title": "Morning health report", "checks": [
                {"check": "http", "service": "backend"}, {"check": "http", "service": "search"},
                {"check": "manual", "text": "Review the Grafana error-rate dashboard"}]}},
            **extra}


def reports(fake: FakeSlack) -> list[dict[str, Any]]:
    """Top-level messages (not thread replies) the bot posted."""
    return [c.body for c in fake.named("chat.postMessage") if "thread_ts" not in c.body]


@pytest.fixture
def runners(make_runtime: Callable[..., Any], fake_slack: FakeSlack) -> Iterator[Callable[..., ScheduleRunner]]:
    made: list[ScheduleRunner] = []

    def make(config: dict[str, Any], **runtime: Any) -> ScheduleRunner:
        rt = make_runtime(config, fake=fake_slack, real_clock=True, **runtime)
        runner = ScheduleRunner(rt, policy=RetryPolicy(attempts=3, backoff_s=0.1))
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()


def at(frozen: Any, runner: ScheduleRunner, when: datetime) -> None:
    frozen.move_to(when)
    runner.wakeup()


def settled(runner: ScheduleRunner, slots: int) -> None:
    """Wait until the replica has finished `slots` slots (run and posted, or recorded as missed)."""
    wait_until(lambda: runner.slots_done >= slots, what=f"{slots} scheduled slot(s) to finish")


def test_nine_local_through_a_dst_change_posts_exactly_one_report_a_day(runners, fake_slack, health_targets):
    # Berlin leaves CET (UTC+1) for CEST (UTC+2) on Sunday 29 March 2026 at 02:00.
    with freeze_time("2026-03-27 06:00:00", real_asyncio=True, ignore=REAL_TIME_FOR) as frozen:
        runner = runners(morning(health_targets))
        assert runner.step()
        nines = [datetime(2026, 3, 27, 8, 0, tzinfo=UTC), datetime(2026, 3, 28, 8, 0, tzinfo=UTC),
                 datetime(2026, 3, 29, 7, 0, tzinfo=UTC), datetime(2026, 3, 30, 7, 0, tzinfo=UTC)]
        for day, nine in enumerate(nines, start=1):
            at(frozen, runner, nine - timedelta(seconds=1))
            assert runner.next_run("checklist", "morning") == nine           # not yet: 08:59:59 local
            at(frozen, runner, nine)
            settled(runner, day)
            assert len(reports(fake_slack)) == day
            at(frozen, runner, nine + timedelta(minutes=5))                   # a later wakeup runs nothing again
            following = nine + timedelta(days=1) - (timedelta(hours=1) if day == 2 else timedelta())
            # the scheduler stores the next run after it hands the slot over: under load the slot can finish first
            wait_until(lambda: runner.next_run("checklist", "morning") == following,  # noqa: B023 (called now)
                       what="the next morning run to be stored")
        runner.close()
    assert len(fake_slack.named("chat.postMessage")) == 2 * len(nines)    # each report and its details thread
    posted = reports(fake_slack)
    assert len(posted) == len(nines)
    assert [p["text"].split(":")[0] for p in posted] == ["Morning health report"] * 4
    heads = [p["blocks"][0]["text"]["text"] for p in posted]
    assert [h.split(" · ")[1].split("\n")[0] for h in heads] == [
        "Fri 27 Mar 09:00 Europe/Berlin", "Sat 28 Mar 09:00 Europe/Berlin",
        "Sun 29 Mar 09:00 Europe/Berlin", "Mon 30 Mar 09:00 Europe/Berlin"]
    assert all("1 failed, 1 passed, 1 to do" in h and "Late" not in h for h in heads)
    problems = posted[0]["blocks"][1]["text"]["text"]
    assert problems.startswith(":red_circle: *search* — http: HTTP 503")       # the real local endpoint's answer
    runs = history(runner.rt, "morning")
    assert sorted(r.scheduled_for for r in runs) == nines
    assert all(r.posted_at for r in runs)                                 # each run was posted
    thread = [c.body for c in fake_slack.named("chat.postMessage") if "thread_ts" in c.body]
    assert "GET " in thread[0]["blocks"][1]["text"]["text"] and "HTTP 503" in str(thread[0]["blocks"])


def test_down_at_nine_and_back_at_nine_twenty_posts_one_late_report(runners, fake_slack, health_targets):
    with freeze_time("2026-11-23 07:00:00", real_asyncio=True, ignore=REAL_TIME_FOR) as frozen:   # 08:00 Berlin
        before = runners(morning(health_targets))
        assert before.step()
        before.close()                                    # the bot stops before 09:00 ...
        frozen.move_to("2026-11-23 08:20:00")             # ... and is back at 09:20
        after = runners(morning(health_targets))
        assert after.step()
        settled(after, 1)
        at(frozen, after, datetime(2026, 11, 24, 8, 0, tzinfo=UTC))          # next morning: on time
        settled(after, 2)
        after.close()
    call, *_ = calls = [c for c in fake_slack.named("chat.postMessage") if "thread_ts" not in c.body]
    late = call.body["blocks"][0]["text"]["text"]
    assert "Mon 23 Nov 09:00 Europe/Berlin" in late
    assert ":hourglass: Late by 20m: the bot was not running at 09:00" in late
    assert "Late" not in calls[1].body["blocks"][0]["text"]["text"]
    assert len(reports(fake_slack)) == 2


def test_back_at_eleven_with_a_one_hour_grace_skips_and_history_says_so(runners, fake_slack, health_targets,
                                                                          run_ops):
    config = morning(health_targets, scheduler={"misfire_grace_time": "1h"})
    with freeze_time("2026-11-23 07:00:00", real_asyncio=True, ignore=REAL_TIME_FOR) as frozen:
        before = runners(config)
        assert before.step()
        before.close()
        frozen.move_to("2026-11-23 10:00:00")             # 11:00 Berlin: two hours late
        after = runners(config)
        assert after.step()
        settled(after, 1)
        assert after.next_run("checklist", "morning") == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
        shown = run_ops(after.rt, "checklist history morning")
        after.close()
    [skipped] = history(after.rt, "morning")
    assert reports(fake_slack) == []
    assert skipped.scheduled_for == datetime(2026, 11, 23, 8, 0, tzinfo=UTC) and skipped.trigger == "schedule"
    assert (":fast_forward: Mon 23 Nov 09:00 Europe/Berlin · schedule · skipped: due Mon 23 Nov 09:00 CET "
            "while the bot was not running; it came back 2h late, past the 1h grace "
            "(scheduler.misfire_grace_time)") in shown.text


def test_one_replica_leads_and_a_standby_takes_over_when_it_stops(runners, health_targets):
    first, second = runners(morning(health_targets)), runners(morning(health_targets))
    assert first.step() is True
    assert second.step() is False and second.step() is False
    first.close()
    assert second.step() is True
    assert first.step() is False


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)      # advisory-lock sessions are PostgreSQL's
def test_a_leader_whose_database_session_dies_stops_scheduling(make_runtime, fake_slack, health_targets, db_url):
    rt = make_runtime(morning(health_targets), fake=fake_slack, real_clock=True)
    runner = ScheduleRunner(rt)
    try:
        assert runner.step()
        with rt.engine.connect() as admin:
            # This schema's scheduler lock only: other test workers share the database, with locks of their own.
            killed = admin.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid <> pg_backend_pid() AND objsubid = 1 "
                "AND objid = (hashtext(:name || current_schema())::bigint & 4294967295)::oid"),
                {"name": LOCK_NAME}).scalars().all()
            admin.commit()
        assert killed == [True]
        assert runner.step() is False                     # it notices at the next poll and stops at once
        assert runner.step() is True                      # and, the lock being free, leads again
    finally:
        runner.close()


def test_changing_a_schedule_replaces_its_job_and_a_removed_checklist_loses_its_job(runners, health_targets):
    with freeze_time("2026-11-23 07:00:00", real_asyncio=True, ignore=REAL_TIME_FOR):
        runner = runners(morning(health_targets))
        assert runner.step()
        assert runner.next_run("checklist", "morning") == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
        runner.close()
        changed = morning(health_targets)
        changed["checklists"]["evening"] = {**changed["checklists"].pop("morning"), "schedule": "0 21 * * *"}
        again = runners(changed)
        assert again.step()
        assert again.next_run("checklist", "morning") is None
        assert again.next_run("checklist", "evening") == datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
        assert [j.id for j in again._aps.get_jobs()] == ["checklist:evening"]
        again.close()


def test_fingerprint_names_what_would_change_a_job():
    spec = JobSpec("checklist", "morning", "0 9 * * *", "Europe/Berlin", 3600)
    assert (spec.id, spec.fingerprint) == ("checklist:morning", "0 9 * * * @Europe/Berlin grace=3600s")


class Crashing:
    timeout_s = 1.0

    def check(self) -> list[Finding]:
        raise RuntimeError("adapter bug")


class Fine:
    timeout_s = 1.0

    def check(self) -> list[Finding]:
        return [Finding("fake", "thing", Health.OK, "fine")]


def test_a_crashing_adapter_is_reported_not_silent(runners, fake_slack, health_targets):
    config = morning(health_targets)
    config["checklists"]["morning"]["checks"] = [{"check": "http", "service": "backend"},
                                                 {"check": "http", "service": "search"}]
    integrations = Integrations(check_sources={check_key("morning", 0): Crashing(), check_key("morning", 1): Fine()})
    with freeze_time("2026-11-23 07:59:59", real_asyncio=True, ignore=REAL_TIME_FOR) as frozen:
        runner = runners(config, integrations=integrations)
        assert runner.step()
        at(frozen, runner, datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
        settled(runner, 1)
        runner.close()
    [call] = [c for c in fake_slack.named("chat.postMessage") if "thread_ts" not in c.body]
    text_ = str(call.body["blocks"])
    assert "1 warning, 1 passed" in text_ and "backend* — check: the check itself failed (ref " in text_


def test_the_weekly_report_posts_on_its_schedule_once(runners, fake_slack, health_targets):
    from tests.schedules.test_weekly_report import seed_week

    config = morning(health_targets, reports={"weekly": {"schedule": "0 9 * * mon", "timezone": "UTC",
                                                         "channel": "C0LEADS"}})
    config["checklists"] = {}
    with freeze_time("2026-11-23 08:59:00", real_asyncio=True, ignore=REAL_TIME_FOR) as frozen:
        runner = runners(config)
        seed_week(runner.rt)
        assert runner.step()
        at(frozen, runner, datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
        settled(runner, 1)
        at(frozen, runner, datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
        wait_until(lambda: runner.next_run("report", "weekly") == datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
                   what="next week's run to be stored (the slot may finish before the scheduler stores it)")
        runner.close()
    [posted] = reports(fake_slack)
    assert posted["channel"] == "C0LEADS"
    assert posted["text"].startswith("Weekly incident report: Week of Mon 16 Nov 09:00 – Mon 23 Nov 09:00")
    assert "MTTA" in posted["text"] and "MTTR" in posted["text"]
    assert [r.result for r in report_history(runner.rt, "weekly")] == ["posted"]   # the slot is taken once
