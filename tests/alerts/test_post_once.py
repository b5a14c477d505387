"""A message is posted once, across crashes: when Slack posted a card, a storm summary or an escalation notice
but the bot never learned its ts (the answer was lost, or the process died in between), the next attempt finds
the message in the channel's history by its metadata and adopts it instead of posting again."""
import pytest
from sqlalchemy import select

from bot.alerts.model import AlertEvent
from bot.delivery import RetryPolicy
from bot.storage.models import Notice, SlackCard
from tests.alerts.workers import escalator, outbox, slack_board
from tests.waiting import stored_card, wait_until

QUICK = RetryPolicy(attempts=None, backoff_s=0.5, max_backoff_s=1.0, retry_refused=True)
ESCALATING = {"channels": {"alerts": "C0ALERTS"},
              "alerts": {"escalation": {"P1": {"steps": [{"after": "5m", "notify": ["U0LEAD", "U0MANAGER"]}]}}}}


@pytest.fixture(autouse=True)
def same_time(fake_slack, clock):
    """Slack's clock is the bot's: history is searched in a window around the attempt."""
    fake_slack.clock = lambda: clock().timestamp()


def event(key, severity="critical"):
    return AlertEvent(source="webhook", dedup_key=key, title=f"{key} is failing", status="firing", severity=severity)


def passes(box, n):
    """Run `n` outbox passes; how many calls succeeded."""
    return sum(box.run_once() for _ in range(n))


def drain(box):
    wait_until(lambda: box.run_once() == 0 and box.pending() == 0, timeout=10, what="the outbox to drain")


def restarted(rt, **kwargs):
    """The outbox of a new process on the same database: a new Slack board, nothing remembered."""
    return outbox(rt, board=slack_board(rt), interval_s=0, policy=QUICK, **kwargs)


def metadata_keys(fake_slack, channel):
    return [m.metadata["event_payload"]["key"] for m in fake_slack.messages(channel) if m.metadata]


def test_a_card_carries_its_key_in_metadata(make_runtime, fake_slack):
    rt = make_runtime({"channels": {"alerts": "C0ALERTS"}}, fake=fake_slack)
    rt.alerts.ingest([event("api")])
    drain(outbox(rt, interval_s=0))
    [post] = fake_slack.named("chat.postMessage")
    assert post.body["metadata"] == {"event_type": "opsbot_card", "event_payload": {"kind": "alert", "key": "1"}}


def test_a_lost_answer_is_looked_up_and_the_card_adopted(make_runtime, fake_slack, clock):
    rt = make_runtime({"channels": {"alerts": "C0ALERTS"}}, fake=fake_slack)
    rt.alerts.ingest([event("api")])
    fake_slack.lose_answer()
    box = outbox(rt, interval_s=0, policy=QUICK)
    assert box.run_once() == 0                              # posted in Slack, but the bot does not know
    assert len(fake_slack.messages("C0ALERTS")) == 1
    with rt.sessions() as s:                                 # the attempt is recorded, its ts unknown
        assert s.execute(select(SlackCard.channel, SlackCard.ts)).one() == ("C0ALERTS", None)
    clock.advance(seconds=1)
    drain(box)
    [message] = fake_slack.messages("C0ALERTS")
    assert stored_card(rt, "alert", "1") == ("C0ALERTS", message.ts)
    assert len(fake_slack.named("conversations.history")) == 1
    assert [c.body["ts"] for c in fake_slack.named("chat.update")] == [message.ts]   # brought up to date


def test_after_a_crash_the_next_process_adopts_the_card(make_runtime, fake_slack, clock):
    rt = make_runtime({"channels": {"alerts": "C0ALERTS"}}, fake=fake_slack)
    rt.alerts.ingest([event("api")])
    fake_slack.lose_answer()
    outbox(rt, interval_s=0, policy=QUICK).run_once()       # ... and this process dies
    after = restarted(rt)
    clock.advance(seconds=5)                                # the dead attempt may still be in flight: wait
    assert passes(after, 2) == 0 and len(fake_slack.messages("C0ALERTS")) == 1
    clock.advance(seconds=60)                               # its claim and its attempt have run out
    drain(after)
    [message] = fake_slack.messages("C0ALERTS")
    assert stored_card(rt, "alert", "1") == ("C0ALERTS", message.ts)
    assert len(fake_slack.named("chat.postMessage")) == 1


def test_a_storm_summary_is_posted_once_across_a_crash(make_runtime, fake_slack, clock):
    rt = make_runtime({"channels": {"alerts": "C0STORM"}, "alerts": {"storm_threshold": 1}}, fake=fake_slack)
    rt.alerts.ingest([event(f"node-{i}", severity="warning") for i in range(4)])
    fake_slack.lose_answer(when=lambda body: "more alerts firing" in body.get("text", ""))
    passes(outbox(rt, interval_s=0, policy=QUICK), 3)       # the summary's answer is lost; then a crash
    rt.alerts.ingest([event("node-9", severity="warning")])  # the storm goes on: the summary must change
    after = restarted(rt)
    clock.advance(seconds=61)
    drain(after)
    summaries = [m for m in fake_slack.messages("C0STORM") if "more alert" in m.text]
    assert len(summaries) == 1 and metadata_keys(fake_slack, "C0STORM").count("C0STORM") == 1
    assert stored_card(rt, "storm", "C0STORM") == ("C0STORM", summaries[0].ts)
    assert "4 more alert(s) firing" in str(summaries[0].blocks)     # updated in place to the newest tally


@pytest.fixture
def escalated(make_runtime, fake_slack, clock):
    """An alert whose card is posted and whose first escalation step was just taken (notices queued)."""
    rt = make_runtime(ESCALATING, fake=fake_slack)
    rt.alerts.ingest([event("api")])
    drain(outbox(rt, interval_s=0))
    clock.advance(minutes=5)
    [step] = escalator(rt).run_once()
    assert step.users == ("U0LEAD", "U0MANAGER")
    return rt


def test_a_direct_message_whose_answer_was_lost_is_sent_once(escalated, fake_slack, clock):
    rt = escalated
    fake_slack.lose_answer(when=lambda body: body["channel"] == fake_slack.im("U0LEAD"))
    box = outbox(rt, interval_s=0, notice_policy=QUICK)
    box.run_once()
    after = restarted(rt, notice_policy=QUICK)               # a crash: a new process finishes the job
    clock.advance(seconds=61)
    drain(after)
    for user in ("U0LEAD", "U0MANAGER"):
        assert len(fake_slack.messages(fake_slack.im(user))) == 1
    assert len(fake_slack.named("conversations.history")) == 1


def test_a_refused_thread_post_still_sends_every_direct_message(escalated, fake_slack):
    rt = escalated
    fake_slack.fail("chat.postMessage", error="not_in_channel", channel="C0ALERTS")
    drain(outbox(rt, interval_s=0))
    assert [len(fake_slack.messages(fake_slack.im(u))) for u in ("U0LEAD", "U0MANAGER")] == [1, 1]
    with rt.sessions() as s:
        thread = s.scalars(select(Notice).where(Notice.channel == "C0ALERTS")).one()
    assert thread.done_at is not None and "not_in_channel" in thread.last_error    # given up, logged


def test_a_direct_message_that_fails_twice_is_delivered_on_a_later_pass(escalated, fake_slack, clock):
    rt = escalated
    lead = fake_slack.im("U0LEAD")
    fake_slack.fail("chat.postMessage", times=2, error="internal_error", channel=lead)
    box = outbox(rt, interval_s=0, notice_policy=RetryPolicy(attempts=5, backoff_s=2.0))
    passes(box, 3)
    assert fake_slack.messages(lead) == [] and len(fake_slack.messages(fake_slack.im("U0MANAGER"))) == 1
    tried = [c for c in fake_slack.named("chat.postMessage") if c.body["channel"] == lead]
    assert len(tried) == 1                                   # not retried at once, within one pass
    clock.advance(seconds=2)
    passes(box, 2)
    clock.advance(seconds=4)
    drain(box)
    assert len(fake_slack.messages(lead)) == 1
    with rt.sessions() as s:
        assert s.scalars(select(Notice.attempts).where(Notice.user == "U0LEAD")).one() == 2


def test_a_rate_limited_direct_message_waits_for_retry_after(make_runtime, fake_slack):
    rt = make_runtime(ESCALATING, fake=fake_slack, real_clock=True)
    from bot.alerts import notices
    from bot.clock import utcnow
    from bot.storage.db import session_scope

    with session_scope(rt.sessions) as session:
        notices.queue(session, key="esc:test:1:U0LEAD", text="wake up", now=utcnow(), user="U0LEAD")
    fake_slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    drain(outbox(rt, interval_s=0))
    first, second = fake_slack.named("chat.postMessage")
    assert first.status == 429 and second.status == 200 and second.at - first.at >= 0.95
    assert len(fake_slack.messages(fake_slack.im("U0LEAD"))) == 1


def test_without_the_history_scopes_a_lost_card_is_posted_again_and_the_log_says_why(make_runtime, fake_slack,
                                                                                    clock, caplog):
    rt = make_runtime({"channels": {"alerts": "C0ALERTS"}}, fake=fake_slack)
    rt.alerts.ingest([event("api")])
    fake_slack.lose_answer()
    box = outbox(rt, interval_s=0, policy=QUICK)
    box.run_once()
    fake_slack.fail("conversations.history", error="missing_scope")
    clock.advance(seconds=1)
    drain(box)
    assert len(fake_slack.messages("C0ALERTS")) == 2            # a duplicate rather than a lost alarm…
    assert "channels:history" in caplog.text                    # …and the operator is told which scope is missing
