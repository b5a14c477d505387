"""A card as its row is now, for a click the command refused (already acknowledged, expired): the transport
redraws the clicked card with it, so an out-of-date card converges on the real state."""
from __future__ import annotations

from bot.alerts import card as alert_card
from bot.errors import OpsError
from bot.incidents import card as incident_card
from bot.incidents import channel_card
from bot.reply import Card, CardKind, CardRef
from bot.runtime import Runtime
from commands.base import parse_id
from schedules import cards as checklist_card
from schedules import checklists


def current(rt: Runtime, ref: CardRef) -> Card | None:
    """The card `ref` rendered from its row now; None when the row is gone or the key is malformed."""
    row_id = parse_id(ref.key)
    try:
        if ref.kind is CardKind.ACTION:
            known = ref.key.isalnum() and len(ref.key) <= 32                # as `/ops confirm` takes it
            return rt.operations.card(rt.operations.get(ref.key)) if known else None
        if row_id is None:
            return None
        if ref.kind is CardKind.INCIDENT:
            return incident_card.card(rt.incidents.get(row_id), now=rt.clock())
        if ref.kind is CardKind.INCIDENT_CHANNEL:
            room = rt.incident_channels.find(row_id)
            return channel_card.card(rt.incidents.get(row_id), room, now=rt.clock()) if room else None
        if ref.kind is CardKind.ALERT:
            return alert_card.card(rt.alerts.get(row_id), now=rt.clock())
        if ref.kind is CardKind.CHECKLIST:
            return checklist_card.card(checklists.get_run(rt, row_id), rt.config)
    except OpsError:
        return None
    return None
