"""Heartbeats in `opsbot serve` over real HTTP, on both databases: a job silent past `within` gets one alert card
in Slack (the fake) from the bot's own worker, and its next beat, POSTed with its token, resolves the card."""
import json
from datetime import UTC, datetime, timedelta

import httpx

from bot.storage import db
from bot.storage.models import Heartbeat
from tests.waiting import wait_until

TOKEN = "hb-e2e-t0ken"
CONFIG = {
    "channels": {"alerts": "C0ALERTS"},
    "heartbeats": [{"name": "weather-monitor", "within": "26h", "severity": "P2", "token": {"secret": "HB_TOKEN"}}],
}


def seed_silence(db_url: str, hours: float) -> None:
    """The bot has watched the heartbeat for days; its last beat was `hours` ago (before this start)."""
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        last = datetime.now(UTC) - timedelta(hours=hours)
        with db.session_scope(db.make_sessions(engine)) as session:
            session.add(Heartbeat(name="weather-monitor", since=last - timedelta(days=7), last_beat_at=last, beats=40,
                                  misses=0))
    finally:
        engine.dispose()


def card_text(call):
    return json.dumps(call.body.get("blocks"), ensure_ascii=False)


def test_a_silent_job_gets_one_card_and_its_next_beat_resolves_it(start_bot, fake_slack, db_url):
    seed_silence(db_url, hours=27)
    bot = start_bot(CONFIG, HB_TOKEN=TOKEN)
    [card] = fake_slack.wait_for(lambda c: c.name == "chat.postMessage" and "No heartbeat" in card_text(c),
                                 timeout=20)
    assert card.body["channel"] == "C0ALERTS"
    assert "P2 · No heartbeat from weather-monitor in 26h* — FIRING" in card_text(card)
    assert "weather-monitor last beat 27h ago" in card_text(card)

    url = f"{bot.url}/alerts/heartbeat/weather-monitor"
    assert httpx.post(url, headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401
    beat = httpx.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, json={"note": "caught up"}, timeout=10)
    assert beat.status_code == 200 and len(beat.json()["resolved"]) == 1
    wait_until(lambda: [c for c in fake_slack.named("chat.update") if "RESOLVED" in card_text(c)], timeout=15,
               what="the card redrawn as resolved")
    log = bot.stop()
    cards = [c for c in fake_slack.named("chat.postMessage") if "No heartbeat" in card_text(c)]
    assert len(cards) == 1                                    # passes every 5 s fired it once
    assert "refused a heartbeat for 'weather-monitor': missing or wrong credentials" in log
    assert TOKEN not in log
