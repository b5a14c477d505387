"""A resolved P1 without a postmortem reminds its owner once per `remind_after` interval, across replicas, until
the postmortem is written; the reminders go through the notices outbox, posted once."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.alerts.model import AlertEvent
from bot.alerts.postmortem_reminders import PostmortemReminders
from bot.config import ConfigError, parse_config
from bot.config.summary import summary
from bot.storage.models import Notice
from tests.alerts.workers import outbox
from tests.waiting import wait_until

CONFIG = {"channels": {"default": "C0ONCALL", "alerts": "C0ALERTS"},
          "incidents": {"postmortems": {"remind_after": "24h", "stop_reminding_after": "4d"}}}
OPENED = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def reminders(rt) -> PostmortemReminders:
    return PostmortemReminders(sessions=rt.sessions, clock=rt.clock, config=rt.config)


def deliver(rt) -> None:
    box = outbox(rt, interval_s=0)
    wait_until(lambda: box.run_once() == 0 and box.pending() == 0, timeout=10, what="the notices to be sent")


def dms(fake_slack, user: str) -> list[str]:
    return [m.text for m in fake_slack.messages(fake_slack.im(user))]


def queued(rt) -> list[tuple[str, str | None]]:
    with rt.sessions() as s:
        return [(n.key, n.last_error) for n in s.scalars(select(Notice).order_by(Notice.id))]


@pytest.fixture
def resolved_p1(make_runtime, run_ops, fake_slack, clock):
    clock.now = OPENED
    rt = make_runtime(CONFIG, fake=fake_slack)
    run_ops(rt, "incident open P1 checkout down", user="U0ALICE")
    run_ops(rt, "incident open P2 search slow", user="U0ALICE")
    clock.advance(hours=1)
    run_ops(rt, "incident resolve 1", user="U0BOB")
    run_ops(rt, "incident resolve 2", user="U0BOB")
    return rt


def test_one_reminder_per_interval_to_who_resolved_it_until_the_postmortem(resolved_p1, run_ops, fake_slack,
                                                                          clock):
    rt, worker = resolved_p1, reminders(resolved_p1)
    clock.advance(hours=23, minutes=59)
    assert worker.run_once() == []
    clock.advance(minutes=1)                                        # 24h after it was resolved
    assert worker.run_once() == ["pm:1:1"]
    clock.advance(hours=3)
    assert worker.run_once() == ["pm:1:1"]                          # the same interval: queued once
    deliver(rt)
    [reminder] = dms(fake_slack, "U0BOB")
    assert reminder == ("<@U0BOB> :memo: Incident #1 (P1 checkout down) was resolved 1d ago and has no "
                        "postmortem yet. Write it with `/ops incident postmortem 1`, or the *Write postmortem* "
                        "button on its card.")
    clock.advance(hours=21)                                         # 48h: the second interval
    assert worker.run_once() == ["pm:1:2"]
    deliver(rt)
    assert len(dms(fake_slack, "U0BOB")) == 2 and dms(fake_slack, "U0ALICE") == []

    clock.advance(hours=1)
    run_ops(rt, "incident postmortem 1", user="U0BOB")
    clock.advance(days=1)
    assert worker.run_once() == []
    deliver(rt)
    assert len(dms(fake_slack, "U0BOB")) == 2
    assert [key for key, _ in queued(rt)] == ["pm:1:1", "pm:1:2"]   # never for the P2


def test_a_reminder_queued_but_not_sent_is_dropped_when_the_postmortem_is_written(resolved_p1, run_ops,
                                                                                 fake_slack, clock):
    rt = resolved_p1
    clock.advance(days=1)
    assert reminders(rt).run_once() == ["pm:1:1"]
    run_ops(rt, "incident postmortem 1", user="U0BOB")
    deliver(rt)
    assert dms(fake_slack, "U0BOB") == []
    assert queued(rt) == [("pm:1:1", "not sent: the postmortem was written")]


def test_reminders_stop_after_stop_reminding_after(resolved_p1, fake_slack, clock):
    worker = reminders(resolved_p1)
    clock.advance(days=3, hours=23)
    assert worker.run_once() == ["pm:1:3"]                          # a bot down for days: one, not three
    clock.advance(hours=1)
    assert worker.run_once() == []                                  # 4d: it stops asking


def test_an_incident_the_bot_opened_and_resolved_is_reminded_under_its_card(make_runtime, fake_slack, clock):
    clock.now = OPENED
    rt = make_runtime(CONFIG, fake=fake_slack)
    rt.alerts.ingest([AlertEvent(source="webhook", dedup_key="k", title="API down", status="firing",
                                 severity="critical")])
    clock.advance(minutes=30)
    rt.alerts.ingest([AlertEvent(source="webhook", dedup_key="k", title="API down", status="resolved")])
    run_ops_free = rt.incidents.resolve(incident_id=1, user="opsbot")
    assert run_ops_free.resolved_by == "opsbot"
    clock.advance(days=1)
    assert reminders(rt).run_once() == ["pm:1:1"]
    deliver(rt)
    [message] = [m for m in fake_slack.messages("C0ONCALL")]
    assert message.text.startswith(":memo: Incident #1 (P1 API down) was resolved 1d ago")


def test_replicas_making_the_same_pass_queue_each_reminder_once(resolved_p1, fake_slack, clock):
    rt = resolved_p1
    workers = [reminders(rt) for _ in range(4)]
    errors: list[BaseException] = []

    def run(worker: PostmortemReminders, start: threading.Barrier) -> None:
        start.wait()
        try:
            for _ in range(5):
                worker.run_once()
        except BaseException as exc:                 # reported below
            errors.append(exc)

    for _ in range(2):                                               # intervals 1 and 2
        clock.advance(days=1)
        start = threading.Barrier(len(workers))
        threads = [threading.Thread(target=run, args=(w, start)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
    with rt.sessions() as s:
        assert s.scalar(select(func.count(Notice.id))) == 2
    deliver(rt)
    assert len(dms(fake_slack, "U0BOB")) == 2


@pytest.mark.parametrize(("postmortems", "problem"), [
    ({"remind_after": "15d"}, "remind_after (15 days, 0:00:00) is longer than stop_reminding_after"),
    ({"remind_after": "0s"}, "incidents.postmortems.remind_after: must be longer than 0s"),
    ({"directory": "postmortems"}, "incidents.postmortems.directory: an absolute path"),
    ({"s3": {"bucket": "Bad_Bucket"}}, "incidents.postmortems.s3.bucket: String should match pattern"),
    ({"s3": {"bucket": "pm-bucket", "prefix": "/abs"}}, "incidents.postmortems.s3.prefix: a key prefix"),
    ({"s3": {"bucket": "pm-bucket"}}, "incidents.postmortems.s3: writing postmortems to S3 needs AWS access"),
    ({"remind_afte": "1d"}, "incidents.postmortems.remind_afte: Extra inputs are not permitted"),
])
def test_postmortem_config_mistakes_name_the_key(postmortems, problem):
    with pytest.raises(ConfigError) as caught:
        parse_config({"incidents": {"postmortems": postmortems}})
    assert any(problem in line for line in caught.value.problems), caught.value.problems


def test_reminders_are_off_unless_configured(make_runtime, run_ops, clock):
    rt = make_runtime()
    run_ops(rt, "incident open P1 checkout down")
    run_ops(rt, "incident resolve 1")
    clock.advance(days=2)
    assert reminders(rt).run_once() == [] and rt.config.incidents.postmortems.remind_after is None
    assert timedelta(days=14) == rt.config.incidents.postmortems.stop_reminding_after


def test_config_check_says_where_postmortems_go():
    config = parse_config({"integrations": {"aws": {}}, "incidents": {"postmortems": {
        "directory": "/srv/pm", "s3": {"bucket": "acme-pm"}, "remind_after": "1d"}}})
    assert "  postmortems  to Slack, /srv/pm, s3://acme-pm/postmortems/; reminders every 24h for 14d" \
        in summary(config, Path("ops.yaml")).splitlines()
