"""How log lines look: text (the default; ` [req=<id>]` after the message when the line belongs to a
request) or, with OPSBOT_LOG_FORMAT=json, one JSON object per line (`time`, `level`, `logger`, `message`,
`request_id` when the line belongs to a request, `exception` when there is one). In both formats the message,
the traceback and the stack pass through a Masker that knows the bot's own Slack credentials and the secrets
the config names (`use_secrets`, called once they are loaded), and credential-shaped text.

A request's id is a contextvar: work a request hands to another thread (a command's work after its ack, the
operation it starts) carries it when that thread runs the work in the request's copied context
(`contextvars.copy_context()` at hand-off; bot.slack.bolt, bot.operations.runner).
"""
from __future__ import annotations

import contextvars
import json
import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from bot.masking import Masker

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("opsbot_request_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_REQUEST_ID = 64


@contextmanager
def request(given: str | None = None) -> Iterator[str]:
    """Lines logged inside carry this request id: the caller's (an X-Request-Id header), or a new one."""
    rid = (given or "").strip()[:MAX_REQUEST_ID] or uuid.uuid4().hex[:16]
    token = request_id.set(rid)
    try:
        yield rid
    finally:
        request_id.reset(token)


class _Masked:
    """The masker every formatter shares; replaced when the secrets are known."""

    masker = Masker()


def use_secrets(values: Iterable[str]) -> None:
    """Mask these values (the bot's tokens, the config's secrets) in every log line from now on."""
    _Masked.masker = Masker(values)


class _MaskedFormatter(logging.Formatter):
    def traces(self, record: logging.LogRecord) -> tuple[str | None, str | None]:
        """The record's traceback and stack, masked (None when it has none). Not the exc_text logging.Formatter
        caches on the record: another handler's formatter may have set it unmasked."""
        mask = _Masked.masker
        exception = (mask(self.formatException(record.exc_info)) if record.exc_info
                     else mask(record.exc_text) if record.exc_text else None)
        stack = mask(self.formatStack(record.stack_info)) if record.stack_info else None
        return exception, stack


class TextFormatter(_MaskedFormatter):
    """`TEXT_FORMAT`, masked; the request id after the message, the traceback on the lines below."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.message = _Masked.masker(record.getMessage())
        record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        rid = request_id.get()
        if rid is not None:
            line += f" [req={rid}]"
        return "\n".join([line, *(trace for trace in self.traces(record) if trace is not None)])


class JsonFormatter(_MaskedFormatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": _Masked.masker(record.getMessage()),
        }
        rid = request_id.get()
        if rid is not None:
            line["request_id"] = rid
        exception, stack = self.traces(record)
        if exception is not None:
            line["exception"] = exception
        if stack is not None:
            line["stack"] = stack
        return json.dumps(line, ensure_ascii=False)


def formatter(kind: str) -> logging.Formatter:
    """The formatter for OPSBOT_LOG_FORMAT (`text` or `json`; anything else is text)."""
    return JsonFormatter() if kind.strip().lower() == "json" else TextFormatter()
