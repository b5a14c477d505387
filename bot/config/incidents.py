"""Incidents beyond open/ack/resolve: where postmortems are written, and reminding people to write them."""
from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field, field_validator, model_validator

from bot.config.values import PositiveDuration, Strict

BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"          # S3's bucket naming rules, in short
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]{0,200}$")  # S3's safe key characters


class PostmortemS3(Strict):
    """An S3 bucket the postmortem is also written to, as `<prefix>incident-<id>-<slug>.md`."""

    bucket: str = Field(pattern=BUCKET)
    prefix: str = "postmortems/"

    @field_validator("prefix")
    @classmethod
    def _safe_key(cls, value: str) -> str:
        if not _PREFIX.match(value) or value.startswith("/"):
            raise ValueError("a key prefix of letters, digits and !_.*'()/- (no leading /), e.g. postmortems/")
        return value


class PostmortemSettings(Strict):
    directory: str | None = None            # also written here, as incident-<id>-<slug>.md
    s3: PostmortemS3 | None = None
    remind_after: PositiveDuration | None = None     # remind the owner of a resolved P1 this often until written
    stop_reminding_after: PositiveDuration = timedelta(days=14)

    @field_validator("directory")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("an absolute path, e.g. /var/lib/opsbot/postmortems (the bot's working directory "
                             "differs between a container and a shell)")
        return value

    @model_validator(mode="after")
    def _reminders_before_stopping(self) -> PostmortemSettings:
        if self.remind_after is not None and self.remind_after > self.stop_reminding_after:
            raise ValueError(f"remind_after ({self.remind_after}) is longer than stop_reminding_after "
                             f"({self.stop_reminding_after}): no reminder would ever be sent")
        return self


class IncidentSettings(Strict):
    postmortems: PostmortemSettings = PostmortemSettings()
