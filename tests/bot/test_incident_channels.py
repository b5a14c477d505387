"""Incident channels without Slack: the channel's name, the config, the card and timeline lines (pure), and the
commands that ask for a channel or its archiving (on both databases, through commands.execute)."""
from datetime import UTC, datetime

import pytest

from bot.config import ConfigError, parse_config
from bot.incidents import IncidentRecord
from bot.incidents.channel_card import render, timeline_line
from bot.incidents.channels import ChannelRecord, TimelineEntry, channel_name

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(("title", "taken", "expected"), [
    ("Checkout is down", 0, "inc-12-checkout-is-down"),
    ("Zahlungsausfall: Überweisungen hängen!", 0, "inc-12-zahlungsausfall-uberweisungen-hangen"),
    ("  --DB__latency  >  2s…  ", 0, "inc-12-db-latency-2s"),
    ("🔥🔥🔥", 0, "inc-12"),
    ("Checkout is down", 1, "inc-12-checkout-is-down-2"),
    ("🔥", 2, "inc-12-3"),
])
def test_the_name_is_lower_case_ascii_from_the_title(title, taken, expected):
    assert channel_name(12, title, prefix="inc", taken=taken) == expected


def test_a_long_title_is_cut_to_80_characters_with_room_for_the_suffix():
    title = "payments " * 30
    plain, second = (channel_name(123456, title, prefix="incident", taken=t) for t in (0, 1))
    assert len(plain) == 80 and plain.startswith("incident-123456-payments-") and not plain.endswith("-")
    assert len(second) <= 80 and second.endswith("-2") and "--" not in second


def test_config_defaults_and_problems_name_their_key_path():
    assert parse_config({}).incidents.channels.auto == ()
    assert parse_config({}).incidents.channels.invite == ("oncall",)          # nobody while no rotation exists
    with pytest.raises(ConfigError) as err:
        parse_config({"incidents": {"channels": {"auto": ["P5"], "prefix": "Inc!", "invite": ["oncall:nights",
                                                                                               "alice"]}}})
    text = "\n".join(err.value.problems)
    assert "incidents.channels.auto[0]: 'P5' is not a severity" in text
    assert "incidents.channels.prefix: 'Inc!' cannot start a Slack channel name" in text
    assert "incidents.channels.invite[1]: 'alice' is not `oncall`, `oncall:<rotation>` or a Slack user ID" in text
    with pytest.raises(ConfigError) as err:
        parse_config({"incidents": {"channels": {"invite": ["oncall:nights"]}}})
    assert "incidents.channels.invite[0]: no rotation named 'nights'" in err.value.problems[0]
    with pytest.raises(ConfigError, match=r"incidents.channels.invite\[0\]: `oncall` needs a rotation"):
        parse_config({"incidents": {"channels": {"invite": "oncall"}}})


def _incident(status: str) -> IncidentRecord:
    return IncidentRecord(id=7, title="Checkout <b>down</b>", severity="P1", status=status, service="backend",
                          opened_at=T0, opened_by="U0ALICE", acknowledged_at=None, acknowledged_by=None,
                          resolved_at=T0 if status == "resolved" else None,
                          resolved_by="U0ALICE" if status == "resolved" else None, timeline=())


def _room(state: str) -> ChannelRecord:
    return ChannelRecord(incident_id=7, name="inc-7-checkout-b-down-b", channel_id="C1", state=state,
                         requested_by="U0ALICE", origin_channel="C0", origin_thread="incident:7",
                         create_started_at=T0, invited_at=T0, pinned_at=T0, mirrored_through=0,
                         archive_requested_by="U0BOB" if state == "archived" else None, archived_at=None,
                         last_error=None)


@pytest.mark.parametrize(("status", "state", "buttons"), [
    ("open", "ready", ["incident_channel.ack", "incident_channel.resolve"]),
    ("acknowledged", "ready", ["incident_channel.resolve"]),
    ("resolved", "ready", ["incident_channel.archive"]),
    ("resolved", "archived", []),
])
def test_the_channel_card_offers_what_makes_sense(status, state, buttons):
    reply = render(_incident(status), _room(state), now=T0)
    assert [b.action_id.value for b in reply.buttons()] == buttons
    assert "&lt;b&gt;" in reply.blocks[0].text                         # the title stays inert
    if state == "archived":
        assert "Archived by <@U0BOB>" in reply.blocks[-1].text


def test_a_timeline_line_says_what_who_and_when():
    line = timeline_line(TimelineEntry(3, T0, "rollback", "U0ALICE", "ok: <!channel> rolled back"))
    assert line == ":gear: `03:00 UTC` *rollback* by <@U0ALICE>: ok: &lt;!channel&gt; rolled back"
    assert timeline_line(TimelineEntry(4, T0, "escalated", "opsbot", None)).endswith("*escalated* by opsbot")


CONFIG = {"incidents": {"channels": {"auto": ["P1"]}}}


def test_commands_ask_for_a_channel_once_and_refuse_what_they_cannot_do(make_runtime, run_ops):
    rt = make_runtime(CONFIG)
    opened = run_ops(rt, "incident open P3 Slow search")
    assert "Making #" not in opened.text and rt.incident_channels.find(1) is None
    assert "I'll say here when it is ready" in run_ops(rt, "incident channel 1").text
    assert rt.incident_channels.find(1).name == "inc-1-slow-search"
    assert "already has a channel: #inc-1-slow-search (being made)" in run_ops(rt, "incident channel #1").text
    p1 = run_ops(rt, "incident open P1 Checkout is down")                # auto: P1
    assert "Making #inc-2-checkout-is-down" in p1.blocks[-1].text and p1.card is not None
    p3 = run_ops(rt, "incident open P3 Cache cold --channel")
    assert rt.incident_channels.find(3).name == "inc-3-cache-cold" and "Making #inc-3" in p3.blocks[-1].text
    assert run_ops(rt, "incident channel 99").outcome.value == "not_found"
    assert run_ops(rt, "incident channel x").outcome.value == "usage"
    assert run_ops(rt, "incident archive 1 2").outcome.value == "usage"
    early = run_ops(rt, "incident archive 2")
    assert early.outcome.value == "conflict" and "not resolved yet" in early.text
    run_ops(rt, "incident resolve 2")
    not_yet = run_ops(rt, "incident archive 2")                           # its channel is still being made
    assert not_yet.outcome.value == "conflict" and "not ready (creating)" in not_yet.text
