"""The alert card and a channel's storm summary, rendered from rows (pure: same rows and time, same message)."""
from __future__ import annotations

from collections import Counter
from datetime import datetime

from bot.alerts.service import AlertRecord
from bot.clock import humanize
from bot.reply import ActionId, Actions, Button, Card, CardKind, CardRef, Context, Reply, Section, Style, escape

SEVERITY_ICON = {"P1": ":rotating_light:", "P2": ":red_circle:", "P3": ":large_orange_circle:", "P4": ":white_circle:"}


def ref(alert_id: int) -> CardRef:
    return CardRef(CardKind.ALERT, str(alert_id))


def storm_ref(channel: str) -> CardRef:
    return CardRef(CardKind.STORM, channel)


def render(a: AlertRecord, *, now: datetime) -> Reply:
    """The alarm's message: what, how bad, since when, how often, who owns it, and the buttons."""
    state = {"firing": "FIRING", "acknowledged": "ACKNOWLEDGED", "resolved": "RESOLVED"}[a.status]
    icon = ":large_green_circle:" if a.status == "resolved" else SEVERITY_ICON.get(a.severity, ":red_circle:")
    times = f" ×{a.count}" if a.count > 1 else ""
    head = f"{icon} *{a.severity} · {escape(a.title)}* — {state}{times}"
    fields = [f"*Service*\n{escape(a.service) if a.service else '—'}",
              f"*Started*\n{a.first_seen:%Y-%m-%d %H:%M} UTC ({humanize(now - a.first_seen)} ago)",
              f"*Last seen*\n{a.last_seen:%H:%M:%S} UTC", f"*Count*\n{a.count}"]
    if a.reason:
        fields.append(f"*Reason*\n{escape(a.reason[:500])}")
    blocks: list[Section | Actions | Context] = [Section(head, fields=tuple(fields))]
    if a.status != "resolved":
        key = str(a.id)
        buttons = [Button("Acknowledge", ActionId.ALERT_ACK, key, Style.PRIMARY)] if a.status == "firing" else []
        buttons += [Button("Resolve", ActionId.ALERT_RESOLVE, key),
                    Button("Escalate", ActionId.ALERT_ESCALATE, key, Style.DANGER),
                    Button("Silence 1h", ActionId.ALERT_SILENCE, key)]
        blocks.append(Actions(tuple(buttons)))
    blocks.append(Context(_footer(a, now)))
    return Reply(text=f"{a.severity} {state}: {a.title}"[:300], blocks=tuple(blocks), ephemeral=False, card=ref(a.id))


def card(a: AlertRecord, *, now: datetime) -> Card:
    return Card(ref(a.id), render(a, now=now))


def storm_card(channel: str, by_service: Counter[str], by_severity: Counter[str], folded: int) -> Card:
    """The one message standing for the alerts a storm folded in a channel."""
    live = sum(by_service.values())
    if not live:
        text = f":large_green_circle: *Storm over*: all {folded} folded alert(s) resolved."
        return Card(storm_ref(channel), Reply(text=text, blocks=(Section(text),), ephemeral=False))
    head = (f":rotating_light: *{live} more alert(s) firing in this channel* — folded into this message "
            "to keep the channel readable.")
    severities = ", ".join(f"{k} {v}" for k, v in sorted(by_severity.items()))
    lines = "\n".join(f"• *{escape(service)}*: {count}" for service, count in by_service.most_common(15))
    return Card(storm_ref(channel), Reply(text=f"{live} more alerts firing", ephemeral=False, blocks=(
        Section(head), Section(lines or "—"), Context(f"{severities} · `/ops alert list` shows them all"))))


def _footer(a: AlertRecord, now: datetime) -> str:
    parts = [f"alert #{a.id} from {a.source}"]
    if a.runbook_url and a.runbook_url.startswith(("http://", "https://")):
        parts.append(f"<{escape(a.runbook_url)}|Runbook>")
    if a.acknowledged_by and a.status != "resolved":
        parts.append(f"acknowledged by <@{a.acknowledged_by}> at {a.acknowledged_at:%H:%M} UTC")
    if a.resolved_at:
        parts.append(f"resolved by <@{a.resolved_by}> after {humanize(a.resolved_at - a.first_seen)}")
    if a.silenced_until and a.silenced_until > now and a.status != "resolved":
        parts.append(f"silenced until {a.silenced_until:%H:%M} UTC")
    if a.escalated_to and a.status == "firing":
        who = " ".join(f"<@{u}>" for u in a.escalated_to.split())
        parts.append(f"escalated (step {a.escalation_step}) to {who}")
    if a.incident_id:
        parts.append(f"incident #{a.incident_id}")
    return " · ".join(parts)


def list_line(a: AlertRecord, now: datetime) -> str:
    return (f"{SEVERITY_ICON.get(a.severity, '')} *#{a.id}* {a.severity} {escape(a.title[:80])} — {a.status}"
            f" ×{a.count}, {humanize(now - a.first_seen)}")
