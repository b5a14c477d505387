"""`opsbot serve` with OPSBOT_LOG_FORMAT=json, scraped on /metrics: every line is JSON, a request's lines carry
its id, no secret the bot knows is ever logged, and the counters moved."""
import json

import httpx

from tests.slackreq import signed_headers, slash_body

TOKEN = "xoxb-test-token"                     # tests.conftest.slack_env's bot token
SECRET = "redis-pass-7f3a9c"


def test_opsbot_serve_logs_json_lines_with_request_ids_and_no_secret(start_bot, fake_slack):
    config = {"checklists": {"cache": {"checks": [{"check": "redis", "url": {"secret": "OPSBOT_TEST_REDIS_URL"}}]}},
              "alerts": {"webhook": {"token_env": "OPSBOT_TEST_HOOK"}}}
    bot = start_bot(config, OPSBOT_LOG_FORMAT="json", OPSBOT_TEST_REDIS_URL=f"redis://:{SECRET}@127.0.0.1:1/0",
                    OPSBOT_TEST_HOOK="hook-token-91bd")
    refused = httpx.post(bot.url + "/alerts/webhook", json={"dedup_key": "k", "title": "t"},
                         headers={"Authorization": "Bearer wrong", "X-Request-Id": "req-42"})
    assert refused.status_code == 401
    body = slash_body("help", response_url=fake_slack.url + "/response/cache")
    assert bot.post(body, signed_headers(body)).status_code == 200
    fake_slack.wait_for("/response/cache")
    metrics = httpx.get(bot.url + "/metrics")
    assert metrics.status_code == 200
    assert 'opsbot_command_duration_seconds_count{outcome="ok",subcommand="help"} 1.0' in metrics.text
    assert 'opsbot_http_requests_total{route="alerts/webhook",status="4xx"} 1.0' in metrics.text
    logged = bot.stop()
    lines = [json.loads(line) for line in logged.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any(line.get("request_id") == "req-42" and "refused webhook" in line["message"] for line in lines)
    for secret in (TOKEN, SECRET, "hook-token-91bd"):
        assert secret not in logged
