"""What a command answers, independent of where it is shown: Slack Block Kit or a terminal.

Commands build a `Reply` from a few block types; `bot.slack.blocks` and `bot.console` render it. Text is
Slack mrkdwn (`*bold*`, `` `code` ``, `<@U123>` mentions); anything a user typed goes through `escape()`.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, replace


def escape(text: str) -> str:
    """Make user-supplied text inert in Slack mrkdwn (no mentions, links or broken code spans)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def code(text: str, limit: int = 60) -> str:
    """User-supplied text shown as inline code, escaped and shortened."""
    return f"`{truncate(escape(text), limit)}`"


class Style(enum.StrEnum):
    DEFAULT = ""
    PRIMARY = "primary"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Header:
    text: str


@dataclass(frozen=True, slots=True)
class Section:
    text: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Context:
    text: str


@dataclass(frozen=True, slots=True)
class Divider:
    pass


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action_id: str
    value: str
    style: Style = Style.DEFAULT


@dataclass(frozen=True, slots=True)
class Actions:
    buttons: tuple[Button, ...]


Block = Header | Section | Context | Divider | Actions


CardRef = tuple[str, str]      # ("incident", "12"), ("action", "9f2c…"): a message rendered from one row


@dataclass(frozen=True, slots=True)
class Reply:
    """A message for the user.

    `ephemeral` replies are seen only by the person who asked; others go into the channel.
    `outcome` (and `detail`) is what the audit log records. `card` marks the message as the live card of
    a row: the Slack edge remembers where it was posted and re-renders it when the row changes.
    `refresh` asks the edge to re-render that card after this reply.
    """

    text: str
    blocks: tuple[Block, ...] = ()
    ephemeral: bool = True
    outcome: str = "ok"
    error_ref: str | None = None
    detail: str | None = None
    card: CardRef | None = None
    refresh: CardRef | None = None

    def with_outcome(self, outcome: str, error_ref: str | None = None) -> Reply:
        return replace(self, outcome=outcome, error_ref=error_ref)

    def buttons(self) -> list[Button]:
        return [b for block in self.blocks if isinstance(block, Actions) for b in block.buttons]


def text_reply(text: str, *, ephemeral: bool = True, outcome: str = "ok") -> Reply:
    return Reply(text=text, blocks=(Section(text),), ephemeral=ephemeral, outcome=outcome)
