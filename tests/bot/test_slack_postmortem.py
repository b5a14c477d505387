"""Timeline notes from mentions, and postmortems as files, end to end: signed `/ops` requests, button clicks and
`app_mention` events into the real Bolt app, and what people see in the fake Slack."""
from __future__ import annotations

import itertools
import json
import logging

import pytest
from slack_bolt import BoltRequest
from sqlalchemy import select

from bot.slack.bolt import build_bolt_app
from bot.slack.mentions import note_request
from bot.storage.models import AuditEntry, IncidentEvent
from tests.slackreq import action_body, signed_headers, slash_body
from tests.waiting import stored_card, wait_until

CHANNEL = "C0ONCALL"
_event = itertools.count(1)
_ts = itertools.count(1)


def mention_body(text: str, *, user: str = "U0ALICE", channel: str = CHANNEL, thread_ts: str | None = None,
                 event_id: str | None = None, ts: str | None = None) -> str:
    """An Events API delivery of an `app_mention`, as Slack sends it (JSON)."""
    event = {"type": "app_mention", "user": user, "text": text, "channel": channel,
             "ts": ts or f"1800000000.{next(_ts):06d}", "event_ts": "1800000000.000000"}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return json.dumps({"token": "legacy-unused", "team_id": "T111", "api_app_id": "A111", "type": "event_callback",
                       "event_id": event_id or f"Ev{next(_event):08d}", "event_time": 1800000000, "event": event,
                       "authorizations": [{"team_id": "T111", "user_id": "UBOT", "is_bot": True}]})


@pytest.fixture
def bot(make_runtime, fake_slack, work_pool, tmp_path):
    rt = make_runtime({"permissions": {"roles": {"oncall": ["U0ALICE", "U0BOB"]},
                                       "commands": {"incident": ["oncall"]}},
                       "incidents": {"postmortems": {"directory": str(tmp_path / "pm")}}}, fake=fake_slack)
    app = build_bolt_app(rt, rt.board, work_pool=work_pool)

    def send(body: str, **headers: str):
        return app.dispatch(BoltRequest(body=body, headers=signed_headers(body, **headers)))

    def slash(text: str, *, user: str = "U0ALICE", tag: str = "cmd"):
        assert send(slash_body(text, user=user, channel=CHANNEL,
                               response_url=f"{fake_slack.url}/response/{tag}")).status == 200

    def mention(text: str, **kwargs: str):
        return send(mention_body(text, **kwargs), **{"Content-Type": "application/json"})

    return rt, app, slash, mention, send


def notes(rt) -> list[tuple[str, str]]:
    with rt.sessions() as s:
        return [(e.actor, e.note) for e in s.scalars(select(IncidentEvent).where(IncidentEvent.kind == "note")
                                                     .order_by(IncidentEvent.id))]


def replies(fake_slack, thread_ts: str) -> list[str]:
    return [m.text for m in fake_slack.messages(CHANNEL) if m.thread_ts == thread_ts]


def test_a_mention_under_the_incident_card_is_a_note_once_however_often_it_is_delivered(bot, fake_slack,
                                                                                        work_pool, caplog):
    caplog.set_level(logging.INFO, logger="bot.slack.middleware")
    rt, app, slash, mention, send = bot
    slash("incident open P1 db primary down")
    _, card_ts = wait_until(lambda: stored_card(rt, "incident", "1"), what="the incident card")
    assert mention("<@UBOT> replica promoted, writes are back", thread_ts=card_ts, event_id="EvNOTE1").status == 200
    wait_until(lambda: replies(fake_slack, card_ts), what="the answer in the card's thread")
    assert replies(fake_slack, card_ts) == [":memo: Added to incident #1's timeline."]
    assert notes(rt) == [("U0ALICE", "replica promoted, writes are back")]
    update = wait_until(lambda: [c for c in fake_slack.named("chat.update") if "Last: note" in json.dumps(c.body)],
                        what="the card redrawn with the note")
    assert update[-1].body["ts"] == card_ts

    # Slack retries the delivery (this replica remembers it), and another replica gets it too (the database does).
    body = mention_body("<@UBOT> replica promoted, writes are back", thread_ts=card_ts, event_id="EvNOTE1")
    assert send(body, **{"Content-Type": "application/json", "X-Slack-Retry-Num": "1"}).status == 200
    other = build_bolt_app(rt, rt.board, work_pool=work_pool)
    assert other.dispatch(BoltRequest(body=body, headers=signed_headers(
        body, **{"Content-Type": "application/json"}))).status == 200
    wait_until(lambda: "duplicate delivery ignored: 'event:EvNOTE1' (stored already)" in caplog.text,
               what="the other replica to find the delivery stored")
    assert len(notes(rt)) == 1 and len(replies(fake_slack, card_ts)) == 1
    with rt.sessions() as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.source == "mention")).all()
    assert [(a.command, a.outcome) for a in audit] == [("incident note 1 replica promoted, writes are back", "ok")]


def test_a_mention_anywhere_names_the_incident_and_refusals_answer_in_its_thread(bot, fake_slack):
    rt, app, slash, mention, _ = bot
    slash("incident open P2 queue backlog")
    wait_until(lambda: stored_card(rt, "incident", "1"), what="the incident card")
    assert mention("<@UBOT> note #1: customers notified on the status page", ts="1800000001.000100").status == 200
    wait_until(lambda: replies(fake_slack, "1800000001.000100"), what="the answer")
    assert notes(rt) == [("U0ALICE", "customers notified on the status page")]

    mention("<@UBOT> what is going on?", ts="1800000001.000200")            # no incident named, no card above
    [hint] = wait_until(lambda: replies(fake_slack, "1800000001.000200"), what="the hint")
    assert "mention me in a reply under the incident's card or in its own channel, or write `@opsbot note" in hint

    mention("<@UBOT> note #1 sneaky", user="U0MALLORY", ts="1800000001.000300")    # not in the oncall role
    [refused] = wait_until(lambda: replies(fake_slack, "1800000001.000300"), what="the refusal")
    assert "oncall" in refused and len(notes(rt)) == 1

    mention("<@UBOT> note #9 wrong number", ts="1800000001.000400")
    [missing] = wait_until(lambda: replies(fake_slack, "1800000001.000400"), what="the not-found answer")
    assert "There is no incident #9." in missing


def test_a_resolved_p1s_button_writes_the_postmortem_into_the_cards_thread(bot, fake_slack, tmp_path):
    rt, app, slash, mention, send = bot
    slash("incident open P1 db primary down")
    _, card_ts = wait_until(lambda: stored_card(rt, "incident", "1"), what="the incident card")
    mention("<@UBOT> failover started by hand", thread_ts=card_ts, user="U0BOB")
    wait_until(lambda: notes(rt), what="the note")
    slash("incident resolve 1 primary replaced", tag="resolve")
    resolved = wait_until(lambda: [c for c in fake_slack.named("chat.update")
                                   if "incident.postmortem" in json.dumps(c.body)], what="the card asking for one")
    assert "needs a postmortem" in json.dumps(resolved[-1].body)

    click = action_body("incident.postmortem", "1", user="U0BOB", message_ts=card_ts,
                        response_url=f"{fake_slack.url}/response/click")
    assert send(click).status == 200
    [upload] = wait_until(lambda: fake_slack.files, what="the postmortem file", timeout=10)
    assert (upload.channel, upload.thread_ts, upload.filename) == (CHANNEL, card_ts, "incident-1-db-primary-down.md")
    content = upload.content.decode()
    assert content.startswith("# Postmortem: incident #1 — db primary down")
    assert "**Note** — @U0BOB: failover started by hand" in content
    assert content == (tmp_path / "pm" / "incident-1-db-primary-down.md").read_text(encoding="utf-8")
    assert upload.comment == "The postmortem: `Postmortem of incident #1: db primary down`"
    line = wait_until(lambda: [t for t in replies(fake_slack, card_ts) if "wrote the postmortem" in t],
                      what="the line in the card's thread")
    assert "is a file in this card's thread: `incident-1-db-primary-down.md`" in line[0]
    wait_until(lambda: "Postmortem written by <@U0BOB>" in json.dumps(fake_slack.named("chat.update")[-1].body),
               what="the card without the button")
    assert "incident.postmortem" not in json.dumps(fake_slack.named("chat.update")[-1].body)

    slash("incident postmortem 1", tag="again")                   # typed: the file goes to the channel
    answer = fake_slack.wait_for("/response/again")[0].body
    assert "is a file in this channel: `incident-1-db-primary-down.md`" in json.dumps(answer)
    assert [(f.channel, f.thread_ts) for f in fake_slack.files] == [(CHANNEL, card_ts), (CHANNEL, None)]


@pytest.mark.parametrize(("event", "why"), [
    ({"type": "message", "channel": CHANNEL, "ts": "1.2", "text": "hi"}, "app_mention event only, not `message`"),
    ({"type": "app_mention", "channel": "#oncall", "ts": "1.2", "text": "hi"}, "`event.channel` is not a Slack id"),
    ({"type": "app_mention", "channel": CHANNEL, "ts": 1.2, "text": "hi"}, "`event.ts` is not a string"),
    ({"type": "app_mention", "channel": CHANNEL, "ts": "1.2", "text": ["hi"]}, "`event.text` is not a string"),
])
def test_events_opsbot_does_not_handle_are_refused_naming_the_problem(bot, event, why):
    rt, app, slash, mention, send = bot
    body = json.dumps({"type": "event_callback", "team_id": "T111", "api_app_id": "A111", "event_id": "EvBAD",
                       "event": event})
    response = send(body, **{"Content-Type": "application/json"})
    assert response.status == 400 and why in response.body


@pytest.mark.parametrize(("text", "expected"), [
    ("<@UBOT> the primary is back", (None, "the primary is back")),
    ("<@UBOT|opsbot>: note #12: it's back", (12, "it's back")),
    ("<@UBOT> Note incident #7 done", (7, "done")),
    ("<@UBOT> <@U0CAROL> took over", (None, "<@U0CAROL> took over")),        # another person stays in the note
    ("<@UBOT> 5 pods restarted", (None, "5 pods restarted")),                  # a number is not an incident
    ("<@UBOT>", (None, "")),
])
def test_what_a_mention_asks(text, expected):
    assert note_request(text, bot_user="UBOT") == expected


def test_a_mention_in_an_incidents_own_channel_is_a_note_for_that_incident(bot, fake_slack, clock):
    from bot.storage.models import IncidentChannel

    rt, app, slash, mention, _ = bot
    slash("incident open P1 checkout is down")
    wait_until(lambda: stored_card(rt, "incident", "1"), what="the incident card")
    with rt.sessions.begin() as s:                       # its channel, as the channel worker leaves it when ready
        s.add(IncidentChannel(incident_id=1, name="inc-1-checkout-is-down", channel_id="C0INC1", state="ready",
                              requested_by="U0ALICE", requested_at=clock(), not_before=clock()))
    assert mention("<@UBOT> rolled back to 1.4.1, error rate falling", channel="C0INC1",
                   ts="1800000002.000100").status == 200
    wait_until(lambda: notes(rt), what="the note")
    assert notes(rt) == [("U0ALICE", "rolled back to 1.4.1, error rate falling")]
