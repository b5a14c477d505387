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
        # Each batch is its own delivery (two batches hold the same 50 alerts): it says so, as a sender should.
        return httpx.post(f"{bot.url}/alerts/webhook", json=alerts, timeout=60,
                          headers={**headers, "Idempotency-Key": f"storm-{batch}"}).status_code

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
    assert len(posts) <= KEYS                                          # never more than one message per key…
    summaries = [p for p in posts if "more alert(s) firing in this channel" in json.dumps(p.body["blocks"])]
    assert len(summaries) == 1                                         # …and past the storm threshold, a summary
    calls = sorted((c for c in fake_slack.calls if c.name in ("chat.postMessage", "chat.update")),
                   key=lambda c: c.at)
    gaps = [b.at - a.at for a, b in zip(calls, calls[1:], strict=False)]
    assert min(gaps) >= PACE_S * 0.9, f"Slack called {min(gaps):.3f}s apart"
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            carded, folded, unseen = conn.execute(text(
                "SELECT sum(CASE WHEN notified_at IS NOT NULL THEN 1 ELSE 0 END), "
                "sum(CASE WHEN summarized THEN 1 ELSE 0 END), "
                "sum(CASE WHEN notified_at IS NULL AND NOT summarized THEN 1 ELSE 0 END) FROM alerts")).one()
    finally:
        engine.dispose()
    assert (carded + folded, unseen) == (KEYS, 0) and len(posts) == carded + 1   # every alert visible somewhere
    # The fake answers the n-th successful chat.postMessage with ts 1700000000.00000n: follow each message.
    ts_of = {id(p): f"1700000000.{n:06d}" for n, p in enumerate(posts, start=1)}
    last: dict[str, str] = {}
    for call in calls:
        if call.status == 200:
            ts = call.body.get("ts") or ts_of[id(call)]
            last[ts] = json.dumps(call.body["blocks"], ensure_ascii=False)
    cards = [b for b in last.values() if "more alert(s) firing" not in b]
    assert len(cards) == carded and all("×500" in b for b in cards)    # cards converge on the final count


def _undelivered(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL")).scalar_one())
