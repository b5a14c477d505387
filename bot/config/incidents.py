"""Incidents beyond open/ack/resolve: their own Slack channels (`incidents.channels`), where postmortems are
written, and reminding people to write them."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from bot.config.alerts import Oncall
from bot.config.values import PositiveDuration, Problems, Severity, Strict, choices, slack_user_id

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


CHANNEL_PREFIX = r"^[a-z0-9][a-z0-9_-]{0,19}$"


def _invite_target(value: str) -> str:
    if value == "oncall" or value.startswith("oncall:"):
        return value
    return slack_user_id(value, or_else="`oncall`, `oncall:<rotation>` or ")


class ChannelSettings(Strict):
    """One Slack channel per incident, `#<prefix>-<id>-<title>`: created for the severities in `auto` (and for
    any incident opened with `--channel`), with the on-call and the opener invited and the card pinned."""

    auto: tuple[Severity, ...] = ()              # e.g. [P1, P2]; empty: only `--channel` makes one
    prefix: str = "inc"
    invite: tuple[Annotated[str, AfterValidator(_invite_target)], ...] = ("oncall",)

    @field_validator("prefix")
    @classmethod
    def _channel_name_start(cls, value: str) -> str:
        if not re.match(CHANNEL_PREFIX, value):
            raise ValueError(f"{value!r} cannot start a Slack channel name: use 1 to 20 lower-case letters, digits, "
                             "`-` or `_`, starting with a letter or digit (e.g. `inc`)")
        return value

    @field_validator("invite", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value


class IncidentSettings(Strict):
    channels: ChannelSettings = ChannelSettings()
    postmortems: PostmortemSettings = PostmortemSettings()


def validate_invite_targets(settings: IncidentSettings, oncall: Oncall) -> None:
    """Every `oncall:<rotation>` names a rotation; an explicit `oncall` needs one (the default asks for the
    first rotation's person when there is one, and for nobody otherwise)."""
    channels = settings.channels
    names = [r.name for r in oncall.rotations]
    explicit = "invite" in channels.model_fields_set
    problems = []
    for i, target in enumerate(channels.invite):
        where = f"incidents.channels.invite[{i}]"
        if target == "oncall" and not names and explicit:
            problems.append((where, "`oncall` needs a rotation under oncall.rotations; none is defined"))
        elif target.startswith("oncall:") and target[7:] not in names:
            problems.append((where, f"no rotation named {target[7:]!r}; {choices(names, target[7:])}"))
    if problems:
        raise Problems(problems)
