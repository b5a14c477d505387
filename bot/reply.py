"""What a command answers, independent of where it is shown: Slack Block Kit or a terminal.

Commands build a `Reply` from a few block types; `bot.slack.blocks` and `bot.console` render it. Text is
Slack mrkdwn (`*bold*`, `` `code` ``, `<@U123>` mentions); anything a user typed goes through `escape()`.

Cards are messages rendered from one row (an incident, an alert, a pending operation, a checklist run):
renderers are pure functions from a record to a Reply, and a `Card` pairs that Reply with the row it shows.
A transport posts a card once, remembers where, and redraws it in place whenever the row changes.
"""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field, replace

from bot.errors import AuditOutcome


def escape(text: str) -> str:
    """Make user-supplied text inert in Slack mrkdwn (no mentions, links or broken code spans)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def chunks(lines: list[str], limit: int) -> list[str]:
    """Lines joined into texts of at most `limit` characters each (a longer line is cut): one Section each."""
    out, current = [], ""
    for line in lines:
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line[:limit]
    if current:
        out.append(current)
    return out


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


class ActionId(enum.StrEnum):
    """Every button's action id: Slack sends it back on a click (commands.BUTTONS maps each to its command)."""

    INCIDENT_ACK = "incident.ack"
    INCIDENT_RESOLVE = "incident.resolve"
    INCIDENT_POSTMORTEM = "incident.postmortem"
    CHANNEL_ACK = "incident_channel.ack"            # the same, on the card pinned in the incident's channel
    CHANNEL_RESOLVE = "incident_channel.resolve"
    CHANNEL_ARCHIVE = "incident_channel.archive"
    ALERT_ACK = "alert.ack"
    ALERT_RESOLVE = "alert.resolve"
    ALERT_ESCALATE = "alert.escalate"
    ALERT_SILENCE = "alert.silence"
    CHECKLIST_DONE = "checklist.done"
    CONFIRM = "ops.confirm"
    CANCEL = "ops.cancel"


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action_id: ActionId
    value: str
    style: Style = Style.DEFAULT


@dataclass(frozen=True, slots=True)
class Actions:
    buttons: tuple[Button, ...]


Block = Header | Section | Context | Divider | Actions


class CardKind(enum.StrEnum):
    INCIDENT = "incident"
    INCIDENT_CHANNEL = "incident_channel"   # the incident's card pinned in its own channel (key: the incident)
    ALERT = "alert"
    ACTION = "action"            # a pending or finished destructive operation
    CHECKLIST = "checklist"      # a checklist run's report
    STORM = "storm"              # one channel's storm summary (key: the channel)


@dataclass(frozen=True, slots=True)
class CardRef:
    """The row a card shows: ("incident", "12"), ("action", "9f2c…")."""

    kind: CardKind
    key: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.key}"


@dataclass(frozen=True, slots=True)
class Attachment:
    """The full text behind a reply that shows only part of it (a log excerpt): a transport that can send files
    sends it as one (Slack uploads it), and says under the reply where it went."""

    filename: str                # "logs-backend-20261123T0300Z.txt"
    title: str                   # "/ops logs backend --since 15m"
    content: str
    label: str = "The full text"                                   # what the file is, to people
    if_not_sent: str = "Narrow it with `--since`, `--tail` or `--grep`."   # what to do when it cannot be sent


@dataclass(frozen=True, slots=True)
class Reply:
    """A message for the user.

    `ephemeral` replies are seen only by the person who asked; others go into the channel.
    `outcome` (and `detail`) is what the audit log records. `card` marks the reply as the live card of a row:
    the transport posts it where it can redraw it later. `redraw` holds cards the command changed, already
    rendered from their new state: the transport updates them where they were posted. `attachment` is the
    full text when the blocks show only part of it.
    """

    text: str
    blocks: tuple[Block, ...] = ()
    ephemeral: bool = True
    outcome: AuditOutcome = AuditOutcome.OK
    error_ref: str | None = None
    detail: str | None = None
    card: CardRef | None = None
    redraw: tuple[Card, ...] = ()
    attachment: Attachment | None = None

    def with_outcome(self, outcome: AuditOutcome, error_ref: str | None = None) -> Reply:
        return replace(self, outcome=outcome, error_ref=error_ref)

    def with_note(self, note: str) -> Reply:
        """The same reply with a context line added at the end (where its attachment went)."""
        return replace(self, blocks=(*self.blocks, Context(note)), attachment=None)

    def buttons(self) -> list[Button]:
        return [b for block in self.blocks if isinstance(block, Actions) for b in block.buttons]


@dataclass(frozen=True, slots=True)
class Card:
    """A card rendered from its row's current state. `rendered` (monotonic seconds) orders two renderings of
    one card, so a transport never replaces a newer one with an older one that was delayed."""

    ref: CardRef
    reply: Reply
    rendered: float = field(default_factory=time.monotonic)


def text_reply(text: str, *, ephemeral: bool = True, outcome: AuditOutcome = AuditOutcome.OK) -> Reply:
    return Reply(text=text, blocks=(Section(text),), ephemeral=ephemeral, outcome=outcome)
