"""Text log lines (the default format) hide the secrets the bot knows, in the message and in a traceback, as
JSON lines do; a line written while a request is answered ends with its id."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot import logfmt
from bot.masking import MASK

TOKEN = "xoxb-test-token"                     # tests.conftest.slack_env's bot token
SECRET = "redis-pass-7f3a9c"
LOGGER = "opsbot.test-masking"


@pytest.fixture
def logged() -> Iterator[dict[str, io.StringIO]]:
    """What LOGGER writes, in each format."""
    outs = {kind: io.StringIO() for kind in ("text", "json")}
    handlers = []
    logger = logging.getLogger(LOGGER)
    for kind, out in outs.items():
        handler = logging.StreamHandler(out)
        handler.setFormatter(logfmt.formatter(kind))
        logger.addHandler(handler)
        handlers.append(handler)
    logfmt.use_secrets([TOKEN, SECRET])
    yield outs
    for handler in handlers:
        logger.removeHandler(handler)
    logfmt.use_secrets([])


def _fail_with_the_secret() -> None:
    try:
        raise RuntimeError(f"refused: could not reach redis://:{SECRET}@db/0")
    except RuntimeError:
        logging.getLogger(LOGGER).exception("the check with %s failed", TOKEN)


def test_a_text_line_masks_the_secrets_in_its_message_and_its_traceback(logged):
    _fail_with_the_secret()
    text = logged["text"].getvalue()
    first, *traceback = text.splitlines()
    assert first.endswith(f"ERROR {LOGGER}: the check with {MASK} failed")
    assert "Traceback (most recent call last)" in traceback[0]
    assert traceback[-1] == f"RuntimeError: refused: could not reach redis://:{MASK}@db/0"
    assert TOKEN not in text and SECRET not in text


def test_both_formats_mask_the_same_secrets(logged):
    _fail_with_the_secret()
    line = json.loads(logged["json"].getvalue())
    assert MASK in line["message"] and MASK in line["exception"]
    for out in logged.values():
        assert TOKEN not in out.getvalue() and SECRET not in out.getvalue()


def test_a_traceback_formatted_unmasked_by_another_handler_is_masked_here(logged):
    """logging.Formatter caches a record's traceback (exc_text): a plain formatter before ours must not leak it."""
    plain = io.StringIO()
    handler = logging.StreamHandler(plain)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(LOGGER)
    logger.handlers.insert(0, handler)
    try:
        _fail_with_the_secret()
    finally:
        logger.removeHandler(handler)
    assert SECRET in plain.getvalue()                 # the plain formatter did cache it unmasked
    assert SECRET not in logged["text"].getvalue() and MASK in logged["text"].getvalue()


def test_credential_shaped_text_is_masked_before_the_secrets_are_known():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logfmt.formatter("text"))
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    try:
        logger.warning("calling with Authorization: Bearer abcdef0123456789 and password=hunter22")
    finally:
        logger.removeHandler(handler)
    assert "abcdef0123456789" not in out.getvalue() and "hunter22" not in out.getvalue()
    assert out.getvalue().count(MASK) == 2


def test_a_text_line_written_for_a_request_ends_with_its_id(logged):
    log = logging.getLogger(LOGGER)
    log.warning("outside any request")
    with logfmt.request("abc-123"):
        log.warning("inside")
    outside, inside = logged["text"].getvalue().splitlines()
    assert outside.endswith(": outside any request")
    assert inside.endswith(": inside [req=abc-123]")


def test_text_and_json_are_the_two_formats():
    assert isinstance(logfmt.formatter("text"), logfmt.TextFormatter)
    assert isinstance(logfmt.formatter(" JSON "), logfmt.JsonFormatter)
    assert isinstance(logfmt.formatter("logfmt"), logfmt.TextFormatter)      # anything else: text
