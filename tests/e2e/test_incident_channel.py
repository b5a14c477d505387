"""Acceptance over real HTTP: `opsbot serve` gives a P1 its channel (the `channels` worker is wired in)."""
import json

from tests.slackreq import signed_headers, slash_body

CONFIG = {"incidents": {"channels": {"auto": ["P1"]}}}


def test_a_p1_opened_over_http_gets_its_channel_with_the_card_pinned(start_bot, fake_slack):
    bot = start_bot(CONFIG)
    body = slash_body("incident open P1 Checkout is down", response_url=fake_slack.url + "/response/open")
    assert bot.post(body, signed_headers(body)).status_code == 200
    created = fake_slack.wait_for(lambda c: c.name == "conversations.create" and c.status == 200, timeout=15)
    assert created[0].body["name"] == "inc-1-checkout-is-down"
    fake_slack.wait_for(lambda c: c.name == "pins.add", timeout=15)
    room = fake_slack.channel_named("inc-1-checkout-is-down")
    assert "U0ALICE" in room.members and room.pins == [fake_slack.messages(room.id)[0].ts]
    assert "Incident #1: Checkout is down" in json.dumps(fake_slack.messages(room.id)[0].blocks)
    fake_slack.wait_for(lambda c: c.name == "chat.postMessage" and "own channel" in str(c.body.get("text")),
                        timeout=15)
