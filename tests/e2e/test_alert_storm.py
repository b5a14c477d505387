"""An alert storm into `opsbot serve`: nothing lost, no 5xx, one card per key, Slack's pace kept, 429s survived.

Sized for a loaded machine (two cores shared with other work), so every wait is a deadline on a condition. Under
load one batch can wait seconds behind the others for SQLite's single write lock, and an outbox pass that loses
that lock sends its claimed row again only when the claim lapses (60 s): the deadlines allow for both.
"""
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import db_row, latest_renderings, undelivered
from tests.waiting import wait_until

ALERTS, KEYS, PER_REQUEST, SENDERS = 10_000, 20, 100, 4
PACE_S = 0.1
SUMMARY = "more alert(s) firing in this channel"
REQUEST_TIMEOUT_S = 120          # a batch may queue behind the others for the database's write lock
DELIVERY_DEADLINE_S = 150        # a claim lapsing after a lost pass (60 s), then the channel's pace and 429 pauses


@pytest.mark.timeout(480)
def test_storm_of_10000_alerts_over_20_keys(start_bot, fake_slack, bot_db):
    bot = start_bot({"channels": {"alerts": "C0STORM"}, "alerts": {
        "webhook": {"token_env": "OPSBOT_TEST_WEBHOOK_TOKEN"}, "channel_interval": f"{int(PACE_S * 1000)}ms"}},
        OPSBOT_TEST_WEBHOOK_TOKEN="storm-token")
    fake_slack.rate_limit("chat.postMessage", times=4, retry_after=1)     # Slack pushes back for a while
    assert set(_storm(bot.url)) == {202}
    assert tuple(db_row(bot_db, "SELECT count(*), sum(count) FROM alerts")) == (KEYS, ALERTS)   # merged by key
    wait_until(lambda: _settled(bot_db, fake_slack), timeout=DELIVERY_DEADLINE_S,
               what="the outbox to deliver everything and every card and the summary to show the final counts")

    posts = fake_slack.named("chat.postMessage", ok_only=True)
    assert len(posts) <= KEYS                                          # never more than one message per key…
    summaries = [p for p in posts if SUMMARY in json.dumps(p.body["blocks"])]
    assert len(summaries) == 1                                         # …and past the storm threshold, a summary
    calls = sorted((c for c in fake_slack.calls if c.name in ("chat.postMessage", "chat.update")),
                   key=lambda c: c.at)
    assert sum(c.status == 429 for c in calls) == 4                    # the 429s were met and survived
    # Each call is recorded before it is answered and the bot paces from the answer: no load can shrink a gap.
    gaps = [b.at - a.at for a, b in zip(calls, calls[1:], strict=False)]
    assert min(gaps) >= PACE_S * 0.9, f"Slack called {min(gaps):.3f}s apart"
    carded, folded, unseen = db_row(bot_db, (
        "SELECT sum(CASE WHEN notified_at IS NOT NULL THEN 1 ELSE 0 END), "
        "sum(CASE WHEN summarized THEN 1 ELSE 0 END), "
        "sum(CASE WHEN notified_at IS NULL AND NOT summarized THEN 1 ELSE 0 END) FROM alerts"))
    assert (carded + folded, unseen) == (KEYS, 0) and len(posts) == carded + 1   # every alert visible somewhere
    cards = [b for b in latest_renderings(fake_slack).values() if SUMMARY not in b]
    assert len(cards) == carded                                        # one message per carded alert, no stray


def _storm(url: str) -> list[int]:
    """ALERTS alerts over KEYS keys, PER_REQUEST to a request, from SENDERS concurrent senders; the statuses."""
    headers = {"Authorization": "Bearer storm-token"}
    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
        def send(batch: int) -> int:
            alerts = [{"source": "storm", "dedup_key": f"key-{(batch * PER_REQUEST + i) % KEYS}",
                       "title": f"disk full on node {(batch * PER_REQUEST + i) % KEYS}", "severity": "warning"}
                      for i in range(PER_REQUEST)]
            # Each batch is its own delivery (many batches hold the same alerts): it says so, as a sender should.
            return client.post(f"{url}/alerts/webhook", json=alerts,
                               headers={**headers, "Idempotency-Key": f"storm-{batch}"}).status_code

        with ThreadPoolExecutor(SENDERS) as pool:
            return list(pool.map(send, range(ALERTS // PER_REQUEST)))


def _settled(engine, fake_slack) -> bool:
    """Nothing left to deliver, every card shows its alert's final count, the summary shows every folded alert."""
    if undelivered(engine):
        return False
    (folded,) = db_row(engine, "SELECT count(*) FROM alerts WHERE summarized")
    shown = latest_renderings(fake_slack).values()
    cards = [b for b in shown if SUMMARY not in b]
    return (any(f"*{folded} {SUMMARY}" in b for b in shown)
            and all(f"×{ALERTS // KEYS}" in b for b in cards))
