"""`opsbot socket` end to end, as teams without a public URL run it: Slack over a Socket Mode WebSocket (a
local server speaking Slack's envelope protocol), and on a local port the same alarm receivers, health and
background workers as `opsbot serve`."""
import json
import signal

import httpx
import pytest

from tests.fakes.socket_mode import FakeSocketMode
from tests.waiting import wait_until

CONFIG = {
    "channels": {"alerts": "C0ALERTS"},
    "oncall": {"rotations": [{"name": "primary", "members": ["U0ONCALL"], "start": "2026-11-02 09:00"}]},
    "alerts": {"escalation": {"P1": {"steps": [{"after": "1s", "notify": "oncall"}]}}},
}
ALERT = {"version": "4", "alerts": [{"status": "firing", "fingerprint": "api-5xx",
                                      "labels": {"alertname": "API 5xx", "severity": "critical", "service": "api"},
                                      "annotations": {"summary": "API 5xx above 5%"}}]}


@pytest.fixture
def socket_mode(fake_slack):
    fake = FakeSocketMode()
    fake_slack.socket_url = fake.url
    yield fake
    fake.close()


def test_socket_mode_runs_everything_serve_runs(start_bot, fake_slack, socket_mode):
    bot = start_bot(CONFIG, command="socket", SLACK_APP_TOKEN="xapp-test", SLACK_SIGNING_SECRET="")
    socket_mode.wait_connected(timeout=20)
    assert httpx.get(f"{bot.url}/healthz", timeout=5).json() == {"status": "ok"}
    assert httpx.get(f"{bot.url}/readyz", timeout=5).status_code == 200
    assert httpx.post(f"{bot.url}/slack/events", timeout=5).status_code == 404     # Slack comes over the socket

    # A slash command over the socket: acked on the socket, answered at its response_url.
    envelope = socket_mode.send_slash_command("help", response_url=fake_slack.url + "/response/help")
    socket_mode.wait_ack(envelope, timeout=3)
    [answer] = fake_slack.wait_for("/response/help", timeout=10)
    assert answer.body["response_type"] == "ephemeral" and "/ops status" in json.dumps(answer.body["blocks"])
    # The command's line, written on a work thread after the ack, carries the envelope's id as its request id.
    wait_until(lambda: any(f"/ops 'help' by U0ALICE: ok [req={envelope}]" in line for line in bot.log), timeout=10,
               what="the command's log line with the envelope id")

    # An alarm on the local port becomes a card (the outbox runs), then escalates (the escalator runs).
    posted = httpx.post(f"{bot.url}/alerts/alertmanager", json=ALERT, timeout=10)
    assert posted.status_code == 202, posted.text
    [card] = fake_slack.wait_for(lambda c: c.name == "chat.postMessage" and c.body.get("channel") == "C0ALERTS",
                                 timeout=10)
    assert "API 5xx" in json.dumps(card.body["blocks"]) and "FIRING" in json.dumps(card.body["blocks"])
    # A direct message goes to the IM channel Slack opens for the user (the fake names it D<user id>).
    [dm] = fake_slack.wait_for(lambda c: c.name == "chat.postMessage" and c.body.get("channel") == "DU0ONCALL",
                               timeout=15)
    assert "escalation step 1 of 1" in dm.body["text"]

    # Acknowledge on the card, over the socket: the card is redrawn in place.
    ts = "1700000000.000001"
    envelope = socket_mode.send_block_action("alert.ack", "1", user="U0ONCALL", channel="C0ALERTS", message_ts=ts,
                                             response_url=fake_slack.url + "/response/ack")
    socket_mode.wait_ack(envelope, timeout=3)
    acked = fake_slack.wait_for(lambda c: c.name == "chat.update" and "ACKNOWLEDGED" in json.dumps(c.body["blocks"]),
                                timeout=10)
    assert acked[-1].body["ts"] == ts and "<@U0ONCALL>" in json.dumps(acked[-1].body["blocks"])

    # SIGTERM: every worker stops and the process exits cleanly.
    bot.proc.send_signal(signal.SIGTERM)
    assert bot.proc.wait(15) == 0
    log = "".join(bot.log)
    assert "connected to Slack over Socket Mode" in log and "Traceback" not in log


def test_socket_mode_needs_an_app_token(start_bot, fake_slack, tmp_path):
    from tests.e2e.conftest import run_opsbot

    config = tmp_path / "ops.yaml"
    config.write_text("{}")
    result = run_opsbot("socket", env={"SLACK_BOT_TOKEN": "xoxb-x", "OPSBOT_CONFIG": str(config)})
    assert result.returncode == 2 and "SLACK_APP_TOKEN" in result.stderr and "Traceback" not in result.stderr
