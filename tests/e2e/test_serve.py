"""Acceptance over real HTTP: `opsbot serve` answering signed requests exactly as Slack sends them."""
import time

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.conftest import run_opsbot
from tests.slackreq import signed_headers, slash_body
from tests.waiting import wait_until


def _count(db_url: str, sql: str) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def shared_bot(module_bots):
    """One bot for the cases that change nothing (a bot start is most of each case's time)."""
    return module_bots()


def test_signed_help_is_answered_within_3s(shared_bot, module_slack):
    body = slash_body("help", response_url=module_slack.url + "/response/help")
    started = time.monotonic()
    resp = shared_bot.post(body, signed_headers(body))
    assert resp.status_code == 200 and time.monotonic() - started < 3
    assert "/ops status" in str(module_slack.wait_for("/response/help")[0].body["blocks"])


@pytest.mark.parametrize("kind", ["bad-signature", "six-minutes-old"])
def test_forged_or_stale_requests_get_401(shared_bot, module_slack, module_db_url, kind):
    body = slash_body("incident open P1 forged", response_url=module_slack.url + f"/response/{kind}")
    headers = signed_headers(body, secret="not-the-secret") if kind == "bad-signature" else \
        signed_headers(body, ts=time.time() - 6 * 60)
    assert shared_bot.post(body, headers).status_code == 401
    assert _count(module_db_url, "SELECT count(*) FROM incidents") == 0
    assert module_slack.named(f"/response/{kind}") == []


def test_slack_retry_with_the_same_trigger_id_runs_once(start_bot, fake_slack, db_url):
    bot = start_bot()
    body = slash_body("incident open P2 checkout errors", trigger_id="1234.5678.retry",
                      response_url=fake_slack.url + "/response/open")
    assert bot.post(body, signed_headers(body)).status_code == 200
    retry = bot.post(body, signed_headers(body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}))
    assert retry.status_code == 200
    fake_slack.wait_for("chat.postMessage")
    assert _count(db_url, "SELECT count(*) FROM incidents") == 1
    assert len(fake_slack.named("chat.postMessage")) == 1


@pytest.mark.parametrize("text", ["", "nonsense", "status " + "x" * 10_000, "инцидент 🔥", "status; rm -rf / `id`"])
def test_bad_input_over_http_is_200_with_an_ephemeral_answer_and_an_audit_row(start_bot, fake_slack, db_url, text):
    bot = start_bot({"services": [{"name": "backend"}]})
    body = slash_body(text, response_url=fake_slack.url + "/response/bad")
    resp = bot.post(body, signed_headers(body))
    assert resp.status_code == 200 and "Traceback" not in resp.text
    answer = fake_slack.wait_for("/response/bad")[0].body
    assert answer["response_type"] == "ephemeral" and "Traceback" not in str(answer)
    wait_until(lambda: _count(db_url, "SELECT count(*) FROM audit_log") >= 1, what="the audit row")
    assert _count(db_url, "SELECT count(*) FROM audit_log") == 1


def test_health_and_readiness_endpoints(shared_bot):
    bot = shared_bot
    assert httpx.get(bot.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(bot.url + "/readyz").json() == {"status": "ready"}
    assert httpx.get(bot.url + "/slack/events").status_code == 405
    assert httpx.get(bot.url + "/nope").status_code == 404


def test_missing_slack_credentials_is_one_line(tmp_path):
    result = run_opsbot("serve", env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode == 2
    assert result.stderr.strip() == "opsbot: missing environment variable(s): SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET"


def test_secrets_never_reach_the_log(start_bot, fake_slack):
    bot = start_bot()
    body = slash_body("help", response_url=fake_slack.url + "/response/h")
    bot.post(body, signed_headers(body))
    fake_slack.wait_for("/response/h")
    err = bot.stop()
    assert "xoxb-test-token" not in err and "test-signing-secret" not in err


def test_socket_mode_without_app_token_is_one_line(tmp_path):
    env = {"SLACK_BOT_TOKEN": "xoxb-x", "SLACK_SIGNING_SECRET": "s", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    result = run_opsbot("socket", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == "opsbot: missing environment variable(s): SLACK_APP_TOKEN"
