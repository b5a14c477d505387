"""Messages rendered from a row ("cards"): how to load, locate and remember each kind.

A transport posts a card once, remembers where (`attach`), and re-renders it from the row whenever
a reply asks for a `refresh`, so a double click, a retry or a restart all converge on the same message.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.reply import CardRef, Reply
from bot.runtime import Runtime
from commands import alerts, checklist, incident, operations


@dataclass(frozen=True, slots=True)
class CardKind:
    load: Callable[[Runtime, str], Reply]
    location: Callable[[Runtime, str], tuple[str, str] | None]
    attach: Callable[[Runtime, str, str, str], None]


CARDS: dict[str, CardKind] = {
    "incident": CardKind(incident.load_card, incident.card_location, incident.attach_card),
    "action": CardKind(operations.load_card, operations.card_location, operations.attach_card),
    "alert": CardKind(alerts.load_card, alerts.card_location, alerts.attach_card),
    "checklist": CardKind(checklist.load_card, checklist.card_location, checklist.attach_card),
}


def load(rt: Runtime, ref: CardRef) -> Reply:
    return CARDS[ref[0]].load(rt, ref[1])


def location(rt: Runtime, ref: CardRef) -> tuple[str, str] | None:
    return CARDS[ref[0]].location(rt, ref[1])


def attach(rt: Runtime, ref: CardRef, channel: str, ts: str) -> None:
    CARDS[ref[0]].attach(rt, ref[1], channel, ts)
