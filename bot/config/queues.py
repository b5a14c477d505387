"""Dead-letter queues `/ops dlq` may peek into and redrive, beyond those services name with `sqs_dlq:`."""
from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field, HttpUrl, field_validator

from bot.config.values import SERVICE_NAME, PositiveDuration, Strict

REDRIVE_TIMEOUT = timedelta(minutes=30)         # also for a service's sqs_dlq, which has no key for it
_QUEUE_PATH = re.compile(r"/[^/]+/[^/]+")        # /<account>/<queue name>


class QueueConfig(Strict):
    name: str = Field(pattern=SERVICE_NAME)                 # what `/ops dlq <name>` calls it
    url: HttpUrl                                             # the dead-letter queue's URL
    source_url: HttpUrl | None = None                        # where redrive sends messages; else found in AWS
    redrive_timeout: PositiveDuration = REDRIVE_TIMEOUT

    @field_validator("url", "source_url")
    @classmethod
    def _queue_url(cls, value: HttpUrl | None) -> HttpUrl | None:
        if value is not None and not _QUEUE_PATH.fullmatch(value.path or ""):
            raise ValueError("not a queue URL; SQS shows it as https://sqs.<region>.amazonaws.com/<account>/<queue>")
        return value
