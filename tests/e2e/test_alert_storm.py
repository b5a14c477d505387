"""An alert storm into `opsbot serve`: nothing lost, no 5xx, one card per key, Slack's pace kept, 429s survived."""
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import create_engine, text

from tests.waiting import wait_until

ALERTS, KEYS, PER_REQUEST = 10_000, 20, 50
PACE_S = 0.1


def test_storm_of_10000_alerts_over_20_keys(start_bot, fake_slack, db_url):
    bot = start_bot({"channels": {"alerts": "C0STORM"}, "alerts": {
        "webhook": {"token_env": "OPSBOT_TEST_WEBHOOK_TOKEN"}, "channel_interval": f"{int(PACE_S * 1000)}ms"}},
        OPSBOT_TEST_WEBHOOK_TOKEN="storm-token")
    fake_slack.rate_limit("chat.postMessage", times=4, retry_after=1)     # Slack pushes back for a while
    headers = {"Authorization": "Bearer storm-token"}

    def send(batch: int) -> int:
        alerts = [{"source": "storm", "dedup_key": f"key-{(batch * PER_REQUEST + i) % KEYS}",
                   "title": f"disk full on node {(batch * PER_REQUEST + i) % KEYS}", "severity": "warning"}
                  for i in range(PER_REQUEST)]
        return httpx.post(f"{bot.url}/alerts/webhook", json=alerts, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, range(ALERTS // PER_REQUEST)))
    assert set(statuses) == {202}

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            alerts, total = conn.execute(text("SELECT count(*), sum(count) FROM alerts")).one()
        assert (alerts, total) == (KEYS, ALERTS)                      # every alert recorded, merged by key
        wait_until(lambda: _undelivered(engine) == 0, timeout=60, what="the outbox to deliver everything")
    finally:
        engine.dispose()
    posts = fake_slack.named("chat.postMessage", ok_only=True)
    assert len(posts) == KEYS                                          # one card per key, nothing lost to 429s
    calls = sorted((c for c in fake_slack.calls if c.name in ("chat.postMessage", "chat.update")),
                   key=lambda c: c.at)
    gaps = [b.at - a.at for a, b in zip(calls, calls[1:], strict=False)]
    assert min(gaps) >= PACE_S * 0.9, f"Slack called {min(gaps):.3f}s apart"
    latest: dict[str, str] = {}                                       # each card's last rendering
    for call in calls:
        if call.status == 200:
            blocks = json.dumps(call.body["blocks"], ensure_ascii=False)
            latest[call.body.get("ts") or blocks.split("disk full on node ")[1].split("*")[0]] = blocks
    assert len(latest) >= KEYS and all("×500" in b for b in list(latest.values())[-KEYS:])


def _undelivered(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL")).scalar_one())
