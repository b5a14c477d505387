"""OPSBOT_LOG_FORMAT=json: one JSON object per line, with the request id while a request is answered, and
never a secret the bot knows (its Slack credentials, the config's secrets), not even in a traceback."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot import logfmt

TOKEN = "xoxb-test-token"                     # tests.conftest.slack_env's bot token
SECRET = "redis-pass-7f3a9c"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logfmt.formatter("json"))
    logger = logging.getLogger("opsbot.test-json")
    logger.addHandler(handler)
    logfmt.use_secrets([TOKEN, SECRET])
    yield out
    logger.removeHandler(handler)
    logfmt.use_secrets([])


def test_each_line_is_json_with_the_request_id_and_no_secret(json_lines):
    log = logging.getLogger("opsbot.test-json")
    log.warning("outside any request")
    with logfmt.request("abc-123"):
        log.warning("connecting with %s to redis://:%s@db/0", TOKEN, SECRET)
        try:
            raise RuntimeError(f"refused: password={SECRET}")
        except RuntimeError:
            log.exception("the check failed")
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    assert [line["level"] for line in lines] == ["WARNING", "WARNING", "ERROR"]
    assert "request_id" not in lines[0] and {lines[1]["request_id"], lines[2]["request_id"]} == {"abc-123"}
    assert lines[1]["logger"] == "opsbot.test-json" and lines[1]["time"].endswith("+00:00")
    assert "RuntimeError" in lines[2]["exception"] and "password=" in lines[2]["exception"]
    text = json_lines.getvalue()
    assert TOKEN not in text and SECRET not in text


def test_text_stays_the_default():
    assert not isinstance(logfmt.formatter("text"), logfmt.JsonFormatter)
    assert not isinstance(logfmt.formatter(""), logfmt.JsonFormatter)
