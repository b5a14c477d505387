"""Alarms over real HTTP into `opsbot serve`: signed SNS, Alertmanager repeats, bad payloads; Slack is the fake."""
import json
import uuid

import httpx
import pytest

from tests.fakes.sns import TOPIC, FakeSns
from tests.waiting import wait_until

CONFIG = {
    "channels": {"alerts": "C0ALERTS"},
    "integrations": {"aws": {}},
    "alerts": {"sns": {"topics": [TOPIC], "cert_host_pattern": r"^127\.0\.0\.1$", "cert_scheme": "http"},
               "webhook": {"token_env": "OPSBOT_TEST_WEBHOOK_TOKEN"}},
    "services": [{"name": "weather-monitor", "alarms": ["weather-monitor-errors-production"]}],
}


@pytest.fixture
def fake_sns():
    fake = FakeSns()
    yield fake
    fake.close()


def post(bot, kind, body, **headers):
    return httpx.post(f"{bot.url}/alerts/{kind}", content=body if isinstance(body, bytes) else json.dumps(body),
                      headers={"Content-Type": "application/json", **headers}, timeout=10)


def test_signed_sns_alarm_becomes_one_message_with_four_buttons(start_bot, fake_slack, fake_sns):
    bot = start_bot(CONFIG)
    msg = fake_sns.alarm("weather-monitor-errors-production", description="[P2] Lambda errors")
    assert post(bot, "sns", msg).status_code == 202
    assert post(bot, "sns", msg).json()["duplicates"] == 1           # SNS retry, same MessageId
    [card] = fake_slack.wait_for("chat.postMessage")
    labels = [e["text"]["text"] for b in card.body["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Acknowledge", "Resolve", "Escalate", "Silence 1h"]
    text = json.dumps(card.body["blocks"], ensure_ascii=False)
    assert "P2 · weather-monitor-errors-production* — FIRING" in text and "weather-monitor" in text


@pytest.mark.parametrize("forge", ["signature", "topic", "cert-host"])
def test_forged_sns_gets_4xx_and_no_message(start_bot, fake_slack, fake_sns, forge):
    bot = start_bot(CONFIG)
    msg = fake_sns.alarm("weather-monitor-errors-production")
    if forge == "signature":
        msg["Message"] = msg["Message"].replace("ALARM", "OK")
    elif forge == "topic":
        msg = fake_sns.alarm("x", topic="arn:aws:sns:us-east-1:999999999999:other")
    else:
        msg = fake_sns.sign({**{k: v for k, v in msg.items() if k != "Signature"},
                             "SigningCertURL": "http://localhost/SimpleNotificationService-x.pem"})
    response = post(bot, "sns", msg)
    assert 400 <= response.status_code < 500 and response.json()["error"]
    ok = post(bot, "sns", fake_sns.alarm("weather-monitor-errors-production"))   # a good one still works…
    assert ok.status_code == 202
    fake_slack.wait_for("chat.postMessage")
    assert len(fake_slack.named("chat.postMessage")) == 1                         # …and the forged one posted nothing


def test_the_same_alertmanager_alert_50_times_is_one_message_with_count_50(start_bot, fake_slack):
    bot = start_bot(CONFIG)
    alert = {"status": "firing", "fingerprint": "f00d", "labels": {"alertname": "HighErrorRate",
                                                                   "severity": "warning", "service": "backend"},
             "annotations": {"summary": "5xx above 5%"}}
    # 50 notifications, not one delivered 50 times: each repeat carries the endsAt Prometheus refreshed.
    bodies = [{"version": "4", "alerts": [{**alert, "endsAt": f"2026-11-23T03:{n:02d}:00Z"}]} for n in range(50)]
    for body in bodies:
        assert post(bot, "alertmanager", body).status_code == 202
    assert post(bot, "alertmanager", bodies[-1]).json()["duplicates"] == 1        # a retry of the last one
    wait_until(lambda: any("×50" in json.dumps(c.body.get("blocks"), ensure_ascii=False)
                           for c in fake_slack.calls), timeout=15, what="a card showing ×50")
    assert len(fake_slack.named("chat.postMessage")) == 1
    post(bot, "alertmanager", {"version": "4", "alerts": [{**alert, "status": "resolved"}]})
    resolved = wait_until(lambda: [c for c in fake_slack.named("chat.update")
                                   if "RESOLVED" in json.dumps(c.body["blocks"])], timeout=15, what="resolved card")
    assert resolved[-1].body["ts"] == fake_slack.named("chat.postMessage")[0].body.get("ts", "1700000000.000001")


@pytest.fixture(scope="module")
def alerts_bot(module_bots):
    """One bot for the read-only cases below (a bot start is most of each case's time)."""
    return module_bots(CONFIG, OPSBOT_TEST_WEBHOOK_TOKEN="hook-token")


@pytest.mark.parametrize("kind, body, headers, status", [
    ("alertmanager", b"{not json", {}, 400),
    ("alertmanager", {"version": "4", "alerts": [{"labels": {}}]}, {}, 400),
    ("webhook", {"dedup_key": "k", "title": "t"}, {}, 401),
    ("webhook", {"dedup_key": "k", "title": "t"}, {"Authorization": "Bearer wrong"}, 401),
    ("webhook", {"dedup_key": "k"}, {"Authorization": "Bearer hook-token"}, 400),
    ("sns", {"Type": "Notification"}, {}, 400),
    ("nagios", {}, {}, 404),
])
def test_bad_payloads_get_a_4xx_with_a_reason(alerts_bot, module_slack, kind, body, headers, status):
    response = post(alerts_bot, kind, body, **headers)
    assert response.status_code == status and response.json()["error"]
    key = uuid.uuid4().hex                                   # the bot is shared: this case's good alert, by key
    good = post(alerts_bot, "webhook", {"dedup_key": key, "title": f"disk full {key}"},
                Authorization="Bearer hook-token")
    assert good.status_code == 202
    module_slack.wait_for(lambda c: c.name == "chat.postMessage" and key in json.dumps(c.body.get("blocks")))
    cards = [json.dumps(c.body.get("blocks")) for c in module_slack.named("chat.postMessage")]
    assert all("disk full " in card for card in cards)       # only good alerts ever became a card
