"""Maintenance windows, end to end on both databases: a window holds its services' alerts back while still
storing and counting them, pauses their escalation, marks their checklist items "in maintenance", and posts one
summary at the end with the cards of the alerts still firing; scheduled windows open and close on their own,
across DST changes; two replicas on PostgreSQL announce and summarize once."""
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.alerts.model import AlertEvent
from bot.config import ConfigError, parse_config
from bot.settings import Settings
from bot.storage.models import Alert, AuditEntry, MaintenanceHold, MaintenanceWindow
from schedules import cards as reports
from schedules.checklists import CheckResult, get_run, run_checklist
from tests.alerts.workers import escalator as make_escalator
from tests.alerts.workers import outbox, slack_runtime
from tests.conftest import _truncate, slack_env
from tests.waiting import wait_until

ALERTS = "C0ALERTS"
CONFIG = {
    "channels": {"alerts": ALERTS},
    "services": [{"name": "api"}, {"name": "web"}, {"name": "worker"}],
    "alerts": {"escalation": {"P1": {"steps": [{"after": "5m", "notify": ["U0ALICE"]},
                                              {"after": "15m", "notify": ["U0LEAD"]}]}}},
}
START = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def fire(key, service, title=None):
    return AlertEvent(source="webhook", dedup_key=key, title=title or f"{key} is failing", status="firing",
                      severity="critical", service=service)


def resolved(key, service):
    return AlertEvent(source="webhook", dedup_key=key, title=f"{key} is failing", status="resolved",
                      severity="critical", service=service)


def deliver(rt):
    """Send everything queued, as the outbox worker does."""
    box = outbox(rt, interval_s=0)
    wait_until(lambda: box.run_once() == 0 and box.pending() == 0, timeout=10, what="the outbox to drain")


def texts(fake_slack, channel=ALERTS):
    return [m.text for m in fake_slack.messages(channel)]


def cards(fake_slack, channel=ALERTS):
    """The alert keys whose cards are in the channel (a card's text is `P1 firing: <title>`), in order."""
    return [t.split(": ", 1)[1].removesuffix(" is failing") for t in texts(fake_slack, channel)
            if t[:2] in ("P1", "P2", "P3", "P4")]


@pytest.fixture
def bot(make_runtime, fake_slack, clock):
    clock.now = START
    return make_runtime(CONFIG, fake=fake_slack)


def test_a_window_holds_alerts_back_pauses_escalation_and_posts_one_summary(bot, run_ops, fake_slack, clock):
    rt, escalator = bot, make_escalator(bot)
    reply = run_ops(rt, "maintenance start api 1h database upgrade", user="U0BOB")
    assert reply.outcome == "ok" and "Maintenance #1 on *api* started" in reply.text
    deliver(rt)
    [announced] = texts(fake_slack)
    assert "*Maintenance started* on *api* — database upgrade" in announced and "<@U0BOB>" in announced

    rt.alerts.ingest([fire("api-5xx", "api"), fire("api-latency", "api"), fire("api-disk", "api"),
                      fire("web-down", "web")])
    rt.alerts.ingest([fire("api-5xx", "api")])                            # a repeat: counted on the alert
    deliver(rt)
    assert cards(fake_slack) == ["web-down"]                              # web's card only
    with rt.sessions() as s:
        stored = {a.dedup_key: a.count for a in s.scalars(select(Alert).where(Alert.service == "api"))}
        holds = s.scalars(select(MaintenanceHold)).all()
    assert stored == {"api-5xx": 2, "api-latency": 1, "api-disk": 1} and len(holds) == 3

    clock.advance(minutes=10)                                             # past step 1 (5m) of every P1
    taken = escalator.run_once()
    assert [s.alert_id for s in taken] == [4]                             # web's alert only: api's are paused
    rt.alerts.ingest([resolved("api-disk", "api")])
    deliver(rt)
    assert cards(fake_slack) == ["web-down"]                              # still nothing of api's

    clock.advance(minutes=50)                                             # the hour is up
    steps = escalator.run_once()
    assert [s.alert_id for s in steps if s.alert_id is not None] == [4]   # web's step 2; api's alerts wait
    # api-disk resolved itself during the window, so its incident (still open, unacknowledged) takes its steps
    # itself once the window is over, both overdue ones in one message: nobody has looked at it yet.
    [incident_step] = [s.incident_id for s in steps if s.alert_id is None]
    assert [(s.step, s.users) for s in steps if s.alert_id is None] == [(2, ("U0ALICE", "U0LEAD"))]
    with rt.sessions() as s:
        keys = {a.dedup_key for a in s.scalars(select(Alert).where(Alert.incident_id == incident_step))}
    assert keys == {"api-disk"}
    deliver(rt)
    summary = [t for t in texts(fake_slack) if "Maintenance ended" in t]
    assert len(summary) == 1
    assert "3 alerts during the window; 2 still firing: their cards follow." in summary[0]
    assert "as planned" in summary[0]
    assert cards(fake_slack) == ["web-down", "api-5xx", "api-latency"]    # api-disk resolved in the window

    assert escalator.run_once() == [] and outbox(rt, interval_s=0).run_once() == 0   # no second summary
    clock.advance(minutes=4, seconds=59)                                  # the cards get one step's interval
    assert escalator.run_once() == []
    clock.advance(seconds=1)
    assert sorted(s.alert_id for s in escalator.run_once()) == [1, 3]     # api-5xx and api-latency
    with rt.sessions() as s:
        window = s.scalars(select(MaintenanceWindow)).one()
        audit = s.scalars(select(AuditEntry).where(AuditEntry.source == "maintenance")).all()
    assert (window.held, window.firing, window.closed_by) == (3, 2, "opsbot")
    assert [a.command for a in audit] == ["maintenance end api (its time ran out)"]


def test_ending_early_posts_the_summary_once_and_the_held_cards(bot, run_ops, fake_slack, clock):
    rt = bot
    run_ops(rt, "maintenance start api,web 2h")
    rt.alerts.ingest([fire("api-5xx", "api"), fire("web-down", "web"), fire("worker-stuck", "worker")])
    deliver(rt)
    assert cards(fake_slack) == ["worker-stuck"]
    clock.advance(minutes=20)
    reply = run_ops(rt, "maintenance end web", user="U0CAROL")
    assert reply.outcome == "ok" and "#1 on *api, web* (2 held, 2 still firing)" in reply.text
    again = run_ops(rt, "maintenance end web", user="U0CAROL")
    assert again.outcome == "not_found" and "`web` is not in maintenance" in again.text
    deliver(rt)
    [summary] = [t for t in texts(fake_slack) if "Maintenance ended" in t]
    assert "early by <@U0CAROL>, after 20m" in summary and "2 alerts during the window" in summary
    assert cards(fake_slack) == ["worker-stuck", "api-5xx", "web-down"]


def test_all_means_every_service_and_alerts_naming_none(bot, run_ops, fake_slack):
    rt = bot
    run_ops(rt, "maintenance start all 30m")
    rt.alerts.ingest([fire("api-5xx", "api"), fire("orphan", None)])
    deliver(rt)
    assert cards(fake_slack) == []
    refused = run_ops(rt, "maintenance end api")
    assert refused.outcome == "conflict" and "`/ops maintenance end all`" in refused.text
    overlap = run_ops(rt, "maintenance start web 1h")
    assert overlap.outcome == "conflict" and "already open" in overlap.text
    listing = run_ops(rt, "maintenance list")
    assert "*all services*" in listing.text and "2 held so far" in listing.text
    assert run_ops(rt, "maintenance end all").outcome == "ok"
    deliver(rt)
    assert cards(fake_slack) == ["api-5xx", "orphan"]


def test_checklist_items_of_a_service_in_maintenance_are_in_maintenance(make_runtime, health_targets, run_ops,
                                                                       fake_slack, clock):
    clock.now = START
    config = {**CONFIG, "services": [{"name": "api", "health": {"url": f"{health_targets.url}/unhealthy"}},
                                     {"name": "web", "health": {"url": f"{health_targets.url}/healthy"}},
                                     {"name": "worker"}],
              "checklists": {"morning": {"checks": [{"check": "service", "service": "api"},
                                                    {"check": "service", "service": "web"}]}}}
    rt = make_runtime(config, fake=fake_slack)
    failing = get_run(rt, run_checklist(rt, "morning", scheduled_for=clock.now, trigger="manual"))
    assert failing.result == CheckResult.FAIL
    run_ops(rt, "maintenance start api 1h upgrade")
    clock.advance(seconds=1)
    run = get_run(rt, run_checklist(rt, "morning", scheduled_for=clock.now, trigger="manual"))
    assert run.result == CheckResult.OK and run.summary == "1 passed, 1 in maintenance"
    [api] = [i for i in run.items if i.label == "api"]
    assert api.result == CheckResult.MAINTENANCE and api.reason.startswith("in maintenance until Mon 23 Nov 04:00")
    assert api.reason.endswith("(upgrade)")
    report = str(reports.render(run, rt.config).blocks)
    assert ":construction: 1 in maintenance, not checked: api (in maintenance until" in report
    assert ":red_circle:" not in report


@pytest.mark.parametrize(("fires", "opens", "closes", "next_week"), [
    # spring forward (29 Mar 2026, 02:00 CET -> 03:00 CEST): 01:00 CET = 00:00 UTC, 3h later is 05:00 CEST;
    # a week later 01:00 CEST is 23:00 UTC
    (datetime(2026, 3, 29, 0, 0, tzinfo=UTC), "Sun 29 Mar 05:00 CEST", datetime(2026, 3, 29, 3, 0, tzinfo=UTC),
     datetime(2026, 4, 4, 23, 0, tzinfo=UTC)),
    # fall back (25 Oct 2026, 03:00 CEST -> 02:00 CET): 01:00 CEST = 23:00 UTC, 3h later is 03:00 CET;
    # a week later 01:00 CET is 00:00 UTC
    (datetime(2026, 10, 24, 23, 0, tzinfo=UTC), "Sun 25 Oct 03:00 CET", datetime(2026, 10, 25, 2, 0, tzinfo=UTC),
     datetime(2026, 11, 1, 0, 0, tzinfo=UTC)),
])
def test_a_scheduled_window_opens_and_closes_on_its_own_across_dst(make_runtime, fake_slack, clock, fires, opens,
                                                                    closes, next_week):
    config = {**CONFIG, "maintenance": [{"name": "drains", "services": ["api"], "schedule": "0 1 * * sun",
                                         "duration": "3h", "timezone": "Europe/Berlin", "reason": "node drains"}]}
    clock.now = fires - timedelta(seconds=1)
    rt = make_runtime(config, fake=fake_slack)
    escalator = make_escalator(rt)
    assert not rt.maintenance.current() and escalator.run_once() == []
    rt.alerts.ingest([fire("early", "api")])
    deliver(rt)
    assert cards(fake_slack) == ["early"]

    clock.advance(seconds=1)                                    # 01:00 local: open, computed at the time of asking
    assert rt.maintenance.current().covers("api")
    rt.alerts.ingest([fire("held", "api")])
    deliver(rt)                                                 # held even before a pass stored the window
    assert cards(fake_slack) == ["early"]
    escalator.run_once()
    deliver(rt)
    [announced] = [t for t in texts(fake_slack) if "Maintenance started" in t]
    assert f"Until {opens} (3h), started on schedule" in announced and "node drains" in announced

    clock.now = closes - timedelta(seconds=1)                   # elapsed 3h minus a second: still open
    escalator.run_once()
    deliver(rt)
    assert rt.maintenance.current().covers("api") and not any("Maintenance ended" in t for t in texts(fake_slack))
    clock.now = closes
    assert not rt.maintenance.current().covers("api")
    escalator.run_once()
    deliver(rt)
    [ended] = [t for t in texts(fake_slack) if "Maintenance ended" in t]
    assert "1 alert during the window; 1 still firing: its card follows." in ended
    assert cards(fake_slack) == ["early", "held"]

    clock.now = next_week - timedelta(seconds=1)                # a week later, just before 01:00 local
    assert not rt.maintenance.current()
    escalator.run_once()
    deliver(rt)
    assert sum("Maintenance started" in t for t in texts(fake_slack)) == 1
    clock.now = next_week
    escalator.run_once()
    deliver(rt)
    assert sum("Maintenance started" in t for t in texts(fake_slack)) == 2
    with rt.sessions() as s:
        starts = [w.starts_at for w in s.scalars(select(MaintenanceWindow).order_by(MaintenanceWindow.id))]
        audit = [a.command for a in s.scalars(select(AuditEntry).where(AuditEntry.source == "maintenance"))]
    assert starts == [fires, next_week]
    assert audit == ["maintenance start api (scheduled drains)", "maintenance end api (its time ran out)",
                     "maintenance start api (scheduled drains)"]


def test_a_scheduled_window_ended_early_stays_ended(make_runtime, run_ops, fake_slack, clock):
    config = {**CONFIG, "maintenance": [{"services": "all", "schedule": "0 2 * * *", "duration": "2h"}]}
    clock.now = datetime(2026, 11, 23, 2, 30, tzinfo=UTC)
    rt = make_runtime(config, fake=fake_slack)
    assert rt.maintenance.current().covers("web")
    assert run_ops(rt, "maintenance end all").outcome == "ok"
    assert not rt.maintenance.current()
    make_escalator(rt).run_once()
    deliver(rt)
    assert [("started" in t, "ended" in t) for t in texts(fake_slack)] == [(True, False), (False, True)]
    listing = run_ops(rt, "maintenance list").text
    assert "Nothing is in maintenance now." in listing and "next at Tue 24 Nov 02:00 UTC for 2h" in listing


@pytest.mark.parametrize(("line", "outcome", "says"), [
    ("maintenance start apj 1h", "not_found", "I don't know the service `apj`. Did you mean `api`?"),
    ("maintenance start api", "usage", "for how long"),
    ("maintenance start api soon", "usage", "`soon` is not a duration"),
    ("maintenance start api 30s", "usage", "between 1m and 7d"),
    ("maintenance start api 8d", "usage", "between 1m and 7d"),
    ("maintenance start api 1h " + "x" * 301, "usage", "keep it under 300"),
    ("maintenance end api", "not_found", "`api` is not in maintenance"),
    ("maintenance end all", "not_found", "Nothing is in maintenance"),
    ("maintenance end", "usage", "which service's window"),
    ("maintenance end wrker", "not_found", "Did you mean `worker`?"),
    ("maintenance pause api", "usage", "has no action `pause`"),
    ("maintenance list now", "usage", "takes nothing"),
])
def test_bad_input_gets_a_short_answer(bot, run_ops, line, outcome, says):
    reply = run_ops(bot, line)
    assert reply.outcome == outcome and says in reply.text and len(reply.text) < 600


def test_the_maintenance_permission_key_restricts_the_command(make_runtime, run_ops):
    rt = make_runtime({**CONFIG, "permissions": {"roles": {"sre": ["U0ALICE"]},
                                                 "commands": {"maintenance": ["sre"]}}})
    refused = run_ops(rt, "maintenance start api 1h", user="U0MALLORY")
    assert refused.outcome == "not_allowed" and "sre" in refused.text
    assert run_ops(rt, "maintenance start api 1h", user="U0ALICE").outcome == "ok"


@pytest.mark.parametrize(("window", "says"), [
    ({"services": ["apj"], "schedule": "0 2 * * *", "duration": "1h"},
     "maintenance[0].services: no service named 'apj'; valid: api, web, worker; did you mean `api`?"),
    ({"services": "all", "schedule": "0 2 * * *", "duration": "8d"}, "maintenance[0].duration"),
    ({"services": "all", "schedule": "0 * * * *", "duration": "2h"}, "opens it again after 1:00:00"),
    ({"services": "all", "schedule": "0 25 * * *", "duration": "1h"}, "maintenance[0].schedule"),
    ({"services": "all", "schedule": "0 2 * * *", "duration": "1h", "timezone": "Mars/Olympus"}, "unknown time zone"),
])
def test_bad_scheduled_windows_are_config_errors(window, says):
    with pytest.raises(ConfigError) as raised:
        parse_config({**CONFIG, "maintenance": [window]})
    assert says in str(raised.value)


def test_config_check_lists_the_scheduled_windows():
    from pathlib import Path

    from bot.config.summary import summary

    config = parse_config({**CONFIG, "timezone": "Europe/Berlin", "maintenance": [
        {"name": "drains", "services": ["api", "web"], "schedule": "0 1 * * sun", "duration": "3h"}]})
    assert ("  maintenance  1 scheduled window(s)\n    - drains: api, web, 0 1 * * sun (Europe/Berlin) for 180m -> "
            "C0ALERTS") in summary(config, Path("ops.yaml"))


@pytest.mark.postgres
def test_two_replicas_on_postgres_announce_and_summarize_once(postgres_url, fake_slack, clock):
    """Both replicas pass at the moment a scheduled window opens, then at the moment it ends (each time
    released together); one announcement, one summary, and the held card once."""
    _truncate(postgres_url)
    config = parse_config({**CONFIG, "maintenance": [{"services": ["api"], "schedule": "0 2 * * *",
                                                      "duration": "1h"}]})
    clock.now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    replicas = [slack_runtime(Settings.from_env(slack_env(fake_slack, postgres_url)), config, clock=clock)
                for _ in range(2)]
    try:
        def both(work):
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def one(rt):
                try:
                    barrier.wait(5)
                    work(rt)
                except BaseException as exc:  # noqa: BLE001 (reported below)
                    errors.append(exc)

            threads = [threading.Thread(target=one, args=(rt,)) for rt in replicas]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert not errors, errors

        both(lambda rt: make_escalator(rt).run_once())
        replicas[0].alerts.ingest([fire("api-5xx", "api")])
        both(lambda rt: outbox(rt, interval_s=0).run_once())
        clock.advance(hours=1)
        both(lambda rt: make_escalator(rt).run_once())
        both(deliver)
        said = texts(fake_slack)
        assert sum("Maintenance started" in t for t in said) == 1
        assert sum("Maintenance ended" in t for t in said) == 1
        assert cards(fake_slack) == ["api-5xx"]
        with replicas[0].sessions() as s:
            assert s.scalars(select(MaintenanceWindow.held)).one() == 1
    finally:
        for rt in replicas:
            rt.engine.dispose()


def test_through_signed_slack_requests(bot, fake_slack, clock, work_pool):
    """`/ops maintenance` as Slack sends it: answered to the person, announced in the alerts channel, audited."""
    from slack_bolt import BoltRequest

    from bot.slack.bolt import build_bolt_app
    from tests.slackreq import signed_headers, slash_body

    rt = bot
    app = build_bolt_app(rt, rt.board, work_pool=work_pool)

    def ops(text, tag, user="U0BOB"):
        body = slash_body(text, user=user, response_url=f"{fake_slack.url}/response/{tag}")
        assert app.dispatch(BoltRequest(body=body, headers=signed_headers(body))).status == 200
        return fake_slack.wait_for(f"/response/{tag}")[0].body

    answer = ops("maintenance start api 90m deploy of 2.4", "start")
    assert answer["response_type"] == "ephemeral" and "Maintenance #1 on *api* started" in answer["text"]
    rt.alerts.ingest([fire("api-5xx", "api")])
    deliver(rt)
    assert cards(fake_slack) == [] and "Until Mon 23 Nov 04:30 UTC (1h 30m)" in texts(fake_slack)[0]
    assert "Did you mean `api`?" in ops("maintenance end apii", "typo")["text"]
    clock.advance(minutes=30)
    ended = ops("maintenance end api", "end", user="U0CAROL")
    assert "(1 held, 1 still firing)" in ended["text"]
    deliver(rt)
    said = texts(fake_slack)
    assert sum("Maintenance ended" in t for t in said) == 1 and cards(fake_slack) == ["api-5xx"]
    with rt.sessions() as s:
        audit = [(a.user_id, a.command, a.outcome) for a in s.scalars(
            select(AuditEntry).where(AuditEntry.subcommand == "maintenance").order_by(AuditEntry.id))]
    assert audit == [("U0BOB", "maintenance start api 90m deploy of 2.4", "ok"),
                     ("U0BOB", "maintenance end apii", "not_found"), ("U0CAROL", "maintenance end api", "ok")]
