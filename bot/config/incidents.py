"""Incidents beyond the record itself: their own Slack channels (`incidents.channels`)."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, field_validator

from bot.config.alerts import Oncall
from bot.config.values import Problems, Severity, Strict, choices, slack_user_id

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
