"""The Slack layer's own tables: requests it has accepted (retry dedupe) and where it posted cards. Domain
tables know nothing of Slack."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models.base import Base


class Delivery(Base):
    """A Slack request we have accepted; the unique key makes a retried delivery a no-op."""

    __tablename__ = "deliveries"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)


class SlackCard(Base):
    """Where the Slack layer posted a card (a message rendered from one row), so it can redraw it in place,
    or a keyed message (kind "message") that must be posted once. Owned by bot.slack: nothing else reads or
    writes it.

    A row with no `ts` is an attempt to post whose outcome is not known yet: `token` names the attempt and
    `posted_at` is when it began (see bot.slack.ledger)."""

    __tablename__ = "slack_cards"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)      # bot.reply.CardKind, or "message"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))                     # the channel id Slack answered with
    ts: Mapped[str | None] = mapped_column(String(32))
    posted_at: Mapped[datetime]
    token: Mapped[str | None] = mapped_column(String(32))
