"""A signed fuzz of `opsbot serve` over real HTTP, on both databases: commands, button clicks and the three
alarm receivers each get a few hundred seeded inputs (tests.fuzzing). Whatever they hold, the bot answers
every one below 500, logs no traceback and no ERROR, audits every command and every well-formed click once,
and is still live and ready at the end. bench/fuzz.py runs the same generator for 10,000 inputs per database.

A failure prints the answers by family and status, with one input to replay per bad answer, and the log's
ERROR records by logger and exception type. OPSBOT_FUZZ_SEED picks other inputs than the fixed seeds.
"""
import os

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from bot.storage.models import AuditEntry
from tests.fakes.sns import FakeSns
from tests.fuzz_run import log_findings, send_all
from tests.fuzzing import CONFIG, TOKEN_ENV, WEBHOOK_TOKEN, Fuzzer
from tests.waiting import wait_until

PARTS = {"commands": ("command",), "buttons": ("button",), "receivers": ("webhook", "alertmanager", "sns")}
SOURCE = {"command": "slack", "button": "button"}          # audit_log.source of each family
INPUTS = 200
SEED = int(os.environ.get("OPSBOT_FUZZ_SEED", "11"))


@pytest.fixture
def fake_sns():
    fake = FakeSns()
    yield fake
    fake.close()


@pytest.fixture
def audit_rows(db_url):
    engine = create_engine(db_url)

    def count(source: str) -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(AuditEntry.source == source)).scalar_one())

    yield count
    engine.dispose()


@pytest.mark.parametrize("part", list(PARTS))
def test_signed_fuzz_gets_no_5xx_no_traceback_and_every_attempt_audited(start_bot, fake_slack, fake_sns, audit_rows,
                                                                         part):
    bot = start_bot(CONFIG, **{TOKEN_ENV: WEBHOOK_TOKEN})
    seed = SEED + list(PARTS).index(part)
    fuzzer = Fuzzer(seed, sns=fake_sns, response_url=f"{fake_slack.url}/response", families=PARTS[part])
    tally = send_all(bot.url, fuzzer.take(INPUTS), clients=4)
    failed = tally.server_errors()
    answered = tally.sent == INPUTS and failed == 0             # (a bool: pytest would print the whole Tally)
    assert answered, f"seed {seed}: {failed} of {tally.sent} answers 5xx or none\n{tally.report()}"

    for family, expected in tally.audited.items():        # the work behind each ack, done: a row per attempt
        wait_until(lambda: audit_rows(SOURCE[family]) >= expected,  # noqa: B023 (called at once)
                   timeout=60, what=f"{expected} audit rows for {family} inputs")
    if part == "commands":                                 # every command has its own trigger_id: none runs twice
        assert audit_rows("slack") == tally.audited["command"], f"seed {seed}: a command audited twice"
    assert [httpx.get(bot.url + path, timeout=10).status_code for path in ("/healthz", "/readyz")] == [200, 200]

    log = bot.stop()
    findings = log_findings(log)
    assert not findings, f"seed {seed}: ERROR records / tracebacks {dict(findings)}\n{tally.report()}"
    assert "Traceback" not in log
