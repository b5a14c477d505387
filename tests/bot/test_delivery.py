"""Slack's errors become three typed errors at one boundary, and one retry policy decides by type: wait out a
rate limit, back off from an outage, give up on a refusal (unless told to keep trying)."""
import threading

import pytest

from bot.delivery import BACKGROUND, INTERACTIVE, RateLimitedError, RefusedError, RetryPolicy, UnavailableError
from bot.reply import Card, CardKind, CardRef, text_reply
from bot.settings import Settings
from bot.slack.board import SlackBoard
from bot.slack.client import translated, web_client
from tests.fakes.fake_slack import FakeSlack


@pytest.fixture
def board(make_runtime, fake_slack):
    rt = make_runtime(fake=fake_slack)
    return rt.board


def test_a_429_is_rate_limited_with_its_retry_after(board, fake_slack):
    fake_slack.rate_limit("chat.postMessage", times=1, retry_after=7)
    with pytest.raises(RateLimitedError) as caught:
        board.post("C0ONCALL", text_reply("hi"))
    assert caught.value.retry_after == 7 and caught.value.temporary


def test_a_channel_the_bot_is_not_in_is_a_refusal_with_its_code(board):
    with pytest.raises(RefusedError) as caught:
        board.post("CPRIVATE1", text_reply("hi"))
    assert caught.value.code == "not_in_channel" and not caught.value.temporary
    assert "not_in_channel" in str(caught.value) and "xoxb" not in str(caught.value)


def test_slack_unreachable_is_unavailable():
    gone = FakeSlack()
    gone.close()
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-secret", "SLACK_API_URL": gone.api_url})
    with pytest.raises(UnavailableError) as caught, translated("a test message"):
        web_client(settings).chat_postMessage(channel="C1", text="x")
    assert caught.value.temporary and str(caught.value).startswith("a test message: Slack unreachable")


@pytest.mark.parametrize(("error", "attempt", "wait"), [
    (RateLimitedError("x", retry_after=7), 1, 7.0),            # as long as Slack asks
    (RateLimitedError("x", retry_after=600), 1, 10.0),         # ... up to the policy's longest wait
    (UnavailableError("x"), 1, 0.5),                           # outages back off exponentially
    (UnavailableError("x"), 2, 1.0),
    (RefusedError("x", code="channel_not_found"), 1, None),    # a refusal is final for a person's answer
    (UnavailableError("x"), 3, None),                          # and after three attempts, so is anything
])
def test_the_interactive_policy_decides_by_type(error, attempt, wait):
    assert INTERACTIVE.delay(error, attempt) == wait


def test_the_background_policy_keeps_trying_a_refusal_with_a_capped_backoff():
    refused = RefusedError("x", code="not_in_channel")
    assert [BACKGROUND.delay(refused, n) for n in (1, 2, 3, 9, 50)] == [2.0, 4.0, 8.0, 300.0, 300.0]


def test_call_retries_until_it_delivers_and_stops_when_asked():
    answers = [UnavailableError("down"), RateLimitedError("slow", retry_after=0.01), "sent"]

    def send():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert RetryPolicy(attempts=3, backoff_s=0.01).call(send) == "sent"
    stop = threading.Event()
    stop.set()
    with pytest.raises(UnavailableError):                      # a stopping bot does not wait out a backoff
        RetryPolicy(attempts=5, backoff_s=60).call(lambda: (_ for _ in ()).throw(UnavailableError("down")),
                                                   stop=stop)


def test_the_board_redraws_a_card_where_it_was_posted_and_remembers_it_across_replicas(board, fake_slack):
    ref = CardRef(CardKind.INCIDENT, "42")

    assert board.show(Card(ref, text_reply("v1", ephemeral=False)), channel="C0ONCALL") is True
    assert board.show(Card(ref, text_reply("v2", ephemeral=False)), channel="C0ONCALL") is False
    other = SlackBoard(board.client, board.sessions, board.clock)                # another replica, cold cache
    assert other.redraw(Card(ref, text_reply("v3", ephemeral=False))) is True
    assert other.redraw(Card(CardRef(CardKind.INCIDENT, "43"), text_reply("x"))) is False
    updates = fake_slack.named("chat.update")
    assert [u.body["text"] for u in updates] == ["v2", "v3"]
    assert {u.body["ts"] for u in updates} == {"1700000000.000001"}          # the first post's ts
