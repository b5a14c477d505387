"""The outbox delivers alert cards from the database at Slack's pace, through 429s, losing nothing."""
import json
from dataclasses import replace

import pytest
from sqlalchemy import select

from bot.alerts.model import AlertEvent
from bot.storage.models import Alert, OutboxMessage
from tests.alerts.workers import outbox as make_outbox
from tests.alerts.workers import slack_board
from tests.fakes.fake_slack import FakeSlack
from tests.waiting import stored_card, wait_until


def event(key, status="firing", severity="critical"):
    return AlertEvent(source="alertmanager", dedup_key=key, title=f"{key} is failing", status=status,
                      severity=severity, service="backend", reason="5xx above 5%",
                      runbook_url="https://runbooks.example.com/5xx")


@pytest.fixture
def outbox(make_runtime, fake_slack):
    rt = make_runtime({"channels": {"alerts": "C0ALERTS"}}, fake=fake_slack, real_clock=True)
    return rt, make_outbox(rt, interval_s=0.2)


def drain(box, *, timeout=10.0):
    wait_until(lambda: box.run_once() == 0 and box.pending() == 0, timeout=timeout, what="the outbox to drain")


def test_first_firing_posts_the_card_with_four_buttons(outbox, fake_slack):
    rt, box = outbox
    rt.alerts.ingest([event("api")])
    drain(box)
    [post] = fake_slack.named("chat.postMessage")
    blocks = post.body["blocks"]
    labels = [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Acknowledge", "Resolve", "Escalate", "Silence 1h"]
    text = json.dumps(blocks, ensure_ascii=False)
    assert "P1 · api is failing* — FIRING" in text and "<https://runbooks.example.com/5xx|Runbook>" in text
    assert stored_card(rt, "alert", "1") == ("C0ALERTS", "1700000000.000001")
    with rt.sessions() as s:
        assert s.scalars(select(Alert)).one().notified_at is not None


def test_repeats_update_the_same_message_and_resolution_turns_it_green(outbox, fake_slack):
    rt, box = outbox
    for _ in range(50):
        rt.alerts.ingest([event("api")])
    drain(box)
    for _ in range(10):
        rt.alerts.ingest([event("api")])
    rt.alerts.ingest([event("api", status="resolved")])
    drain(box)
    assert len(fake_slack.named("chat.postMessage")) == 1
    last = fake_slack.named("chat.update")[-1].body
    text = json.dumps(last["blocks"], ensure_ascii=False)
    assert last["ts"] == "1700000000.000001" and "RESOLVED ×60" in text and ":large_green_circle:" in text
    assert not any(b["type"] == "actions" for b in last["blocks"])


def test_a_channel_is_never_called_faster_than_its_pace(outbox, fake_slack):
    rt, box = outbox
    rt.alerts.ingest([event(f"k{i}") for i in range(5)])
    drain(box)
    posts = fake_slack.named("chat.postMessage")
    assert len(posts) == 5
    gaps = [b.at - a.at for a, b in zip(posts, posts[1:], strict=False)]
    assert min(gaps) >= 0.19, gaps


def test_429_pauses_the_channel_and_nothing_is_lost(outbox, fake_slack):
    rt, box = outbox
    fake_slack.rate_limit("chat.postMessage", times=3, retry_after=1)
    rt.alerts.ingest([event(f"k{i}") for i in range(3)])
    drain(box, timeout=15)
    calls = fake_slack.named("chat.postMessage")
    assert len(calls) == 6                      # 3 refused with 429, then 3 delivered
    assert calls[1].at - calls[0].at >= 0.95    # Retry-After honoured
    with rt.sessions() as s:
        assert all(a.notified_at for a in s.scalars(select(Alert)))
        assert s.scalars(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))).all() == []


def test_slack_down_then_back_delivers_later(make_runtime, fake_slack):
    rt = make_runtime({"channels": {"alerts": "C0ALERTS"}}, fake=fake_slack, real_clock=True)
    rt.alerts.ingest([event("api")])
    fake_slack.close()                           # Slack unreachable: the alert is stored, delivery waits
    dead = make_outbox(rt)
    assert dead.run_once() == 0 and dead.pending() == 1
    with rt.sessions() as s:
        row = s.scalars(select(OutboxMessage)).one()
    assert row.attempts == 1 and row.pending_key == f"alert:{row.alert_id}"
    back = FakeSlack()                           # Slack is back (at a new address, to be sure who answers)
    try:
        box = make_outbox(rt, board=slack_board(rt, replace(rt.settings, slack_api_url=back.api_url)))
        wait_until(lambda: box.run_once() == 1, timeout=5, what="the retry after the backoff")
        assert len(back.named("chat.postMessage")) == 1 and box.pending() == 0
    finally:
        back.close()


def test_a_storm_of_different_keys_becomes_a_few_cards_and_one_summary(make_runtime, fake_slack):
    rt = make_runtime({"channels": {"alerts": "C0ALERTS"}, "alerts": {"storm_threshold": 3}}, fake=fake_slack,
                      real_clock=True)
    box = make_outbox(rt, interval_s=0.05)
    rt.alerts.ingest([AlertEvent(source="webhook", dedup_key=f"node-{i}", title=f"node {i} down", status="firing",
                           severity="warning", service="backend" if i % 4 else "search") for i in range(40)])
    drain(box)
    posts = fake_slack.named("chat.postMessage")
    assert len(posts) == 4                                    # 3 cards + 1 summary, not 40 messages
    summary = json.dumps(posts[0].body["blocks"] + posts[-1].body["blocks"], ensure_ascii=False)
    assert "37 more alert(s) firing in this channel" in summary
    assert "*backend*: 28" in summary and "*search*: 9" in summary
    with rt.sessions() as s:
        assert len(s.scalars(select(Alert).where(Alert.summarized.is_(True))).all()) == 37
    rt.alerts.ingest([AlertEvent(source="webhook", dedup_key=f"node-{i}", title="x", status="resolved")
                for i in range(40)])
    drain(box)
    updates = json.dumps([c.body["blocks"] for c in fake_slack.named("chat.update")], ensure_ascii=False)
    assert "*Storm over*: all 37 folded alert(s) resolved." in updates
    assert len(fake_slack.named("chat.postMessage")) == 4     # resolution updated, nothing new posted
