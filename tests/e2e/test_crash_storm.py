"""`kill -9` twice during an alert storm, each time restarted on the same database and port, as a supervisor would.

The sender behaves like Alertmanager: a batch that gets no answer (reset, refused, timed out, 5xx) is sent again,
byte for byte, until the bot answers 2xx. Identical bytes are the same delivery, so a batch stored just before
the crash and sent again must not be counted twice. Slack (the fake) outlives the bot: every chat.postMessage it
records is a distinct message in the channel, so a card or the storm summary posted again after a crash shows.
"""
import json
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import text

from tests.e2e.conftest import db_row, latest_renderings, undelivered
from tests.waiting import wait_until

BATCHES, PER_BATCH, KEYS, SENDERS = 60, 100, 20, 4       # 6,000 alerts; 20 keys: past the storm threshold (10)
SUMMARY = "more alert(s) firing in this channel"
TOKEN = "crash-token"
ATTEMPT_TIMEOUT_S = 30           # one attempt; no answer within it counts as no answer (sent again)
RETRY_S = 0.1                    # between attempts, while the bot is down
SEND_DEADLINE_S = 150            # for the whole storm to be answered, crashes and restarts included
DELIVERY_DEADLINE_S = 150        # a row claimed by the killed process is sent again once its claim lapses (30 s)


@dataclass
class Storm:
    """Concurrent senders of fixed batches; each batch is retried with the same bytes until it is answered 2xx."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    accepted: int = 0            # alerts in batches answered 2xx
    answered: int = 0            # batches answered 2xx
    retries: int = 0             # attempts that got no answer
    refused: list[int] = field(default_factory=list)     # 4xx statuses: a batch the bot would never take
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, batches: list[bytes]) -> None:
        with httpx.Client(timeout=ATTEMPT_TIMEOUT_S) as client, ThreadPoolExecutor(SENDERS) as pool:
            list(pool.map(lambda body: self._deliver(client, body), batches))

    def _deliver(self, client: httpx.Client, body: bytes) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        while not self.stop.is_set():
            try:
                status = client.post(f"{self.url}/alerts/webhook", content=body, headers=headers).status_code
            except httpx.TransportError:          # reset, refused, timed out: the bot is down or died mid-answer
                status = None
            with self._lock:
                if status is not None and 200 <= status < 300:
                    self.accepted, self.answered = self.accepted + PER_BATCH, self.answered + 1
                    return
                if status is not None and status < 500:
                    self.refused.append(status)
                    return
                self.retries += 1
            self.stop.wait(RETRY_S)


def batches() -> list[bytes]:
    """Distinct bodies (a batch number in each alert's details), each alert's key one of KEYS."""
    return [json.dumps([{"source": "crash", "dedup_key": f"key-{i % KEYS}", "title": f"disk full on node {i % KEYS}",
                         "severity": "warning", "details": {"batch": str(n)}} for i in range(PER_BATCH)]).encode()
            for n in range(BATCHES)]


@pytest.mark.timeout(420)
def test_kill_9_twice_mid_storm_loses_nothing_and_counts_nothing_twice(start_bot, fake_slack, bot_db):
    bot = start_bot({"channels": {"alerts": "C0CRASH"}, "alerts": {
        "webhook": {"token_env": "OPSBOT_TEST_WEBHOOK_TOKEN"}, "channel_interval": "100ms"}},
        OPSBOT_TEST_WEBHOOK_TOKEN=TOKEN)
    storm = Storm(bot.url)
    sender = threading.Thread(target=storm.run, args=(batches(),), daemon=True)
    sender.start()
    try:
        for share in (1 / 3, 2 / 3):          # two crashes mid-storm, each at a share of the batches answered
            wait_until(lambda share=share: storm.answered >= BATCHES * share, timeout=SEND_DEADLINE_S,
                       what=f"{share:.0%} of the batches to be answered")
            bot = start_bot.crash_and_restart(bot)
        wait_until(lambda: not sender.is_alive(), timeout=SEND_DEADLINE_S, what="every batch to be answered")
    finally:
        storm.stop.set()
    assert (storm.answered, storm.refused, storm.accepted) == (BATCHES, [], BATCHES * PER_BATCH)
    assert storm.retries > 0                                  # the crashes hit the storm: batches were sent again
    wait_until(lambda: _settled(bot_db, fake_slack), timeout=DELIVERY_DEADLINE_S,
               what="the outbox to deliver everything and each alert's card to show its count")
    # One comparison, so a failure shows every broken promise at once.
    assert _outcome(bot_db, fake_slack) == {
        "stored": storm.accepted,                             # nothing lost, nothing counted twice on a resend
        "cards posted twice": [], "summaries posted": 1,      # no message posted twice across the crashes
        "cards not showing the stored count": {},             # every card ends at the database's count
    }


def _outcome(engine, fake_slack) -> dict[str, object]:
    posts = [json.dumps(p.body["blocks"], ensure_ascii=False)
             for p in fake_slack.named("chat.postMessage", ok_only=True)]
    cards = Counter(_alert_id(p) for p in posts if SUMMARY not in p)
    counts = _counts(engine)
    shown = {ts: b for ts, b in latest_renderings(fake_slack).items() if SUMMARY not in b}
    return {
        "stored": sum(counts.values()),
        "cards posted twice": sorted(a for a, n in cards.items() if n > 1),
        "summaries posted": sum(SUMMARY in p for p in posts),
        "cards not showing the stored count": {
            ts: (_count_shown(b), counts[_alert_id(b)]) for ts, b in shown.items()
            if _count_shown(b) != counts[_alert_id(b)]},
    }


def _settled(engine, fake_slack) -> bool:
    """Nothing left to deliver; every carded alert has a message showing its count; the summary shows every
    folded alert."""
    if undelivered(engine):
        return False
    counts = _counts(engine)
    carded = _counts(engine, "notified_at IS NOT NULL")
    (folded,) = db_row(engine, "SELECT count(*) FROM alerts WHERE summarized")
    shown = latest_renderings(fake_slack).values()
    showing = {_alert_id(b) for b in shown if SUMMARY not in b and _count_shown(b) == counts[_alert_id(b)]}
    return set(carded) <= showing and any(f"*{folded} {SUMMARY}" in b for b in shown)


def _counts(engine, where: str = "1 = 1") -> dict[int, int]:
    with engine.connect() as conn:
        return {int(i): int(c) for i, c in conn.execute(text(f"SELECT id, count FROM alerts WHERE {where}"))}


def _alert_id(blocks: str) -> int:
    return int(re.search(r"alert #(\d+) from", blocks).group(1))  # type: ignore[union-attr]


def _count_shown(blocks: str) -> int:
    match = re.search(r"×(\d+)", blocks)
    return int(match.group(1)) if match else 1
