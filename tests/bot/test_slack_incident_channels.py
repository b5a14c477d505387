"""Incident channels through signed Slack requests, on both databases: a P1 gets `#inc-<id>-<title>` on the fake
Slack with its card pinned and the right people in it; the timeline (status changes, an operation's outcome) is
mirrored there once; Resolve offers Archive; a lost answer, a crash, a taken name or a failed invitation never
makes a second channel or loses anything."""
import json
import threading

import pytest
from slack_bolt import BoltRequest
from sqlalchemy import select

from bot.alerts.model import AlertEvent
from bot.delivery import RetryPolicy
from bot.incidents.channels import CLAIM_FOR
from bot.slack.bolt import build_bolt_app
from bot.slack.incident_channels import IncidentChannelWorker
from bot.storage.models import AuditEntry, IncidentChannel, PendingAction
from integrations.base import Integrations
from tests.alerts.workers import outbox, slack_board
from tests.fakes.fake_slack import BOT
from tests.fakes.targets import FakeDeployment
from tests.slackreq import action_body, signed_headers, slash_body
from tests.waiting import stored_card, wait_until

QUICK = RetryPolicy(attempts=None, backoff_s=1.0, max_backoff_s=1.0, retry_refused=True)
ROTATION = {"name": "primary", "members": ["U0ONCALL"], "start": "2026-11-02 09:00"}
CONFIG = {"channels": {"alerts": "C0ALERTS"}, "oncall": {"rotations": [ROTATION]},
          "incidents": {"channels": {"auto": ["P1", "P2"]}}, "services": [{"name": "backend"}],
          "permissions": {"roles": {"responders": ["U0ALICE", "U0BOB"]},
                          "commands": {"incident": ["responders"], "rollback": ["responders"]}}}
NAME = "inc-1-checkout-is-down"


@pytest.fixture(autouse=True)
def same_time(fake_slack, clock):
    """Slack's clock is the bot's: a channel is adopted only if it was created around the bot's attempt."""
    fake_slack.clock = lambda: clock().timestamp()


class Bot:
    def __init__(self, rt, fake, pool):
        self.rt, self.fake, self.pool = rt, fake, pool
        self.app = build_bolt_app(rt, rt.board, work_pool=pool)
        self.box = outbox(rt, interval_s=0, policy=QUICK)
        self.worker = self.new_worker()

    def new_worker(self, board=None):
        """The channel worker of a process: a fresh one knows nothing the database does not."""
        return IncidentChannelWorker(board=board or self.rt.board, sessions=self.rt.sessions, clock=self.rt.clock,
                                     config=self.rt.config, policy=QUICK)

    def send(self, body, **headers):
        response = self.app.dispatch(BoltRequest(body=body, headers=signed_headers(body, **headers)))
        assert response.status == 200
        return response

    def slash(self, text, *, user="U0ALICE", tag="cmd"):
        self.send(slash_body(text, user=user, response_url=f"{self.fake.url}/response/{tag}"))

    def click(self, action_id, value, *, channel, ts, user="U0ALICE", tag="click"):
        self.send(action_body(action_id, value, user=user, channel=channel, message_ts=ts,
                              response_url=f"{self.fake.url}/response/{tag}"))

    def settle(self, worker=None):
        """Let the work after the acks, the channel worker and the outbox run until nothing is left to do."""
        worker = worker or self.worker

        def quiet():
            self.rt.operations.runner.idle(timeout=10)
            return worker.run_once() + self.box.run_once() == 0 and self.box.pending() == 0

        wait_until(quiet, timeout=15, what="the channel work to settle")

    def room(self, incident_id=1):
        with self.rt.sessions() as s:
            return s.get(IncidentChannel, incident_id)

    def texts(self, channel):
        return [m.text for m in self.fake.messages(channel)]

    def card_blocks(self, channel, ts):
        message = next(m for m in self.fake.messages(channel) if m.ts == ts)
        return json.dumps(message.blocks)


@pytest.fixture
def bot(make_runtime, fake_slack, work_pool):
    backend = FakeDeployment("backend")
    rt = make_runtime(CONFIG, fake=fake_slack, integrations=Integrations(rollback_targets={"backend": backend}))
    return Bot(rt, fake_slack, work_pool)


def open_p1(bot, *, title="Checkout is down"):
    bot.slash(f"incident open P1 {title} --service backend", tag="open")
    bot.fake.wait_for(lambda c: c.name == "chat.postMessage" and c.body.get("channel") == "C0ONCALL")
    wait_until(lambda: stored_card(bot.rt, "incident", "1"), what="the incident's card to be stored")
    bot.settle()


def test_a_p1_gets_its_channel_with_the_card_pinned_and_the_right_people(bot, fake_slack):
    open_p1(bot)
    room = fake_slack.channel_named(NAME)
    assert room is not None and room.creator == BOT
    assert sorted(room.members) == sorted([BOT, "U0ONCALL", "U0ALICE"])       # the on-call and the opener
    first = fake_slack.messages(room.id)[0]
    assert first.metadata["event_payload"] == {"kind": "incident_channel", "key": "1"}
    assert room.pins == [first.ts]
    blocks = json.dumps(first.blocks)
    assert "Incident #1: Checkout is down" in blocks and "incident_channel.ack" in blocks
    origin = bot.texts("C0ONCALL")
    assert any(f"has its own channel: <#{room.id}>" in t for t in origin)
    assert [m.thread_ts for m in fake_slack.messages("C0ONCALL") if "own channel" in m.text] == \
        [stored_card(bot.rt, "incident", "1")[1]]                               # under the incident's card
    assert len(fake_slack.named("conversations.create")) == 1


def test_status_changes_and_an_operation_are_mirrored_and_resolve_offers_archive(bot, fake_slack):
    open_p1(bot)
    room = fake_slack.channel_named(NAME)
    card_ts = fake_slack.messages(room.id)[0].ts
    bot.click("incident_channel.ack", "1", channel=room.id, ts=card_ts, tag="ack")
    wait_until(lambda: bot.rt.incidents.get(1).status == "acknowledged", what="the acknowledgement")
    bot.settle()
    assert any("*acknowledged* by <@U0ALICE>" in t for t in bot.texts(room.id))
    assert "incident_channel.ack" not in bot.card_blocks(room.id, card_ts)      # redrawn: no Acknowledge now

    bot.slash("rollback backend", tag="rb")
    action_id = wait_until(lambda: _action_id(bot.rt), what="the rollback's plan")
    wait_until(lambda: stored_card(bot.rt, "action", action_id), what="the confirmation card")
    bot.click("ops.confirm", action_id, channel="C0ONCALL", ts=stored_card(bot.rt, "action", action_id)[1],
              tag="confirm")
    wait_until(lambda: _action_state(bot.rt) == "succeeded", what="the rollback to finish")
    bot.settle()
    [rollback] = [t for t in bot.texts(room.id) if "*rollback*" in t]
    assert "by <@U0ALICE>: ok: rollout finished" in rollback

    bot.slash("incident resolve 1 rolled back", tag="resolve")
    wait_until(lambda: bot.rt.incidents.get(1).status == "resolved", what="the resolution")
    bot.settle()
    blocks = bot.card_blocks(room.id, card_ts)
    assert f"Archive #{NAME}" in blocks and "incident_channel.archive" in blocks
    lines = bot.texts(room.id)
    kinds = [kind for t in lines for kind in ("acknowledged", "rollback", "resolved") if f"*{kind}*" in t]
    assert kinds == ["acknowledged", "rollback", "resolved"]                   # in the timeline's order, once each

    bot.click("incident_channel.archive", "1", channel=room.id, ts=card_ts, tag="archive")
    wait_until(lambda: bot.room().state in ("archiving", "archived"), what="the archive request")
    bot.settle()
    assert fake_slack.channel_named(NAME).is_archived
    assert "Archived by <@U0ALICE>" in bot.card_blocks(room.id, card_ts)
    assert any(f"#{NAME} was archived by <@U0ALICE>" in t for t in bot.texts("C0ONCALL"))
    with bot.rt.sessions() as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.command == "incident archive 1")).one()
    assert (audit.user_id, audit.source, audit.outcome, audit.detail) == ("U0ALICE", "button", "ok",
                                                                          f"archive #{NAME}")


def test_archive_is_role_checked_and_only_after_resolve(bot, fake_slack):
    open_p1(bot)
    room = fake_slack.channel_named(NAME)
    card_ts = fake_slack.messages(room.id)[0].ts
    bot.click("incident_channel.archive", "1", channel=room.id, ts=card_ts, tag="early")
    early = fake_slack.wait_for("/response/early")[0].body
    assert "not resolved yet" in early["text"] and early["response_type"] == "ephemeral"
    bot.slash("incident resolve 1", tag="resolve")
    wait_until(lambda: bot.rt.incidents.get(1).status == "resolved", what="the resolution")
    bot.click("incident_channel.archive", "1", channel=room.id, ts=card_ts, user="U0MALLORY", tag="mallory")
    refused = fake_slack.wait_for("/response/mallory")[0].body
    assert "responders" in refused["text"] and refused["response_type"] == "ephemeral"
    bot.settle()
    assert not fake_slack.channel_named(NAME).is_archived and fake_slack.named("conversations.archive") == []
    with bot.rt.sessions() as s:
        outcomes = s.scalars(select(AuditEntry.outcome).where(AuditEntry.command == "incident archive 1")
                             .order_by(AuditEntry.id)).all()
    assert outcomes == ["conflict", "not_allowed"]


def test_a_lost_answer_to_conversations_create_does_not_make_a_second_channel(bot, fake_slack, clock):
    fake_slack.lose_answer("conversations.create")
    bot.slash("incident open P1 Checkout is down", tag="open")
    wait_until(lambda: bot.room(), what="the channel to be asked for")
    assert bot.worker.run_once() == 0                          # created in Slack; the answer never came
    assert len(fake_slack.conversations) == 1 and bot.room().channel_id is None
    assert bot.room().create_started_at is not None            # ... but the attempt was recorded first
    clock.advance(seconds=5)
    restarted = bot.new_worker(board=slack_board(bot.rt))      # another process, on the same database
    bot.settle(restarted)
    [room] = fake_slack.conversations.values()
    assert bot.room().channel_id == room.id and bot.room().state == "ready"
    assert len(fake_slack.named("conversations.create")) == 1 and fake_slack.named("conversations.list")
    assert room.pins == [fake_slack.messages(room.id)[0].ts] and "U0ALICE" in room.members


def test_a_crash_after_conversations_create_waits_out_the_claim_and_adopts_the_channel(bot, fake_slack, clock):
    fake_slack.lose_answer("conversations.create")
    bot.slash("incident open P1 Checkout is down", tag="open")
    wait_until(lambda: bot.room(), what="the channel to be asked for")
    bot.worker.run_once()
    with bot.rt.sessions.begin() as s:                         # ... as if the process died inside its pass
        s.get(IncidentChannel, 1).claimed_until = clock() + CLAIM_FOR
    restarted = bot.new_worker(board=slack_board(bot.rt))
    clock.advance(seconds=60)
    assert restarted.run_once() == 0 and fake_slack.named("conversations.list") == []     # still the dead one's
    clock.advance(seconds=61)
    bot.settle(restarted)
    assert len(fake_slack.conversations) == 1 and len(fake_slack.named("conversations.create")) == 1
    [room] = fake_slack.conversations.values()
    assert bot.room().channel_id == room.id and room.pins


def test_without_channels_read_a_lost_answer_stops_rather_than_make_a_second_channel(bot, fake_slack, clock):
    fake_slack.lose_answer("conversations.create")
    fake_slack.fail("conversations.list", times=5, error="missing_scope")
    bot.slash("incident open P1 Checkout is down", tag="open")
    wait_until(lambda: bot.room(), what="the channel to be asked for")
    bot.worker.run_once()
    clock.advance(seconds=5)
    bot.settle()
    assert len(fake_slack.conversations) == 1 and bot.room().state == "failed"
    [said] = [t for t in bot.texts("C0ONCALL") if "could not make a channel" in t]
    assert f"#{NAME} exists and I cannot tell whether I made it (missing_scope" in said and "channels:read" in said


def test_a_taken_name_and_a_failed_invitation_are_said_and_lose_nothing(bot, fake_slack):
    fake_slack.add_channel(NAME, creator="U0SOMEONE")             # someone else's channel has the name
    fake_slack.unknown_users.add("U0ONCALL")                       # the on-call left the workspace
    open_p1(bot)
    room = fake_slack.channel_named(f"{NAME}-2")
    assert room is not None and bot.room().name == f"{NAME}-2"
    assert sorted(room.members) == sorted([BOT, "U0ALICE"])
    assert any("could not invite <@U0ONCALL> (user_not_found)" in t for t in bot.texts(room.id))
    assert room.pins and bot.room().state == "ready"
    bot.slash("incident ack 1", tag="ack")
    wait_until(lambda: bot.rt.incidents.get(1).status == "acknowledged", what="the acknowledgement")
    bot.settle()
    assert any("*acknowledged*" in t for t in bot.texts(room.id))


def test_a_refused_channel_is_explained_and_can_be_asked_for_again(bot, fake_slack):
    fake_slack.fail("conversations.create", error="restricted_action")
    open_p1(bot)
    assert fake_slack.conversations == {} and bot.room().state == "failed"
    [said] = [t for t in bot.texts("C0ONCALL") if "could not make a channel" in t]
    assert "restricted_action" in said and "`/ops incident channel 1` tries again" in said
    bot.slash("incident channel 1", tag="again")
    wait_until(lambda: bot.room().state == "creating", what="the channel to be asked for again")
    bot.settle()
    assert fake_slack.channel_named(NAME) is not None and bot.room().state == "ready"
    assert bot.rt.incidents.get(1).title == "Checkout is down"


def test_an_alert_opened_p1_gets_a_channel_announced_under_the_alert(bot, fake_slack):
    bot.rt.alerts.ingest([AlertEvent(source="webhook", dedup_key="api", title="API 5xx above 5%", status="firing",
                                     severity="critical")])
    wait_until(lambda: bot.box.run_once() or stored_card(bot.rt, "alert", "1"), what="the alert's card")
    bot.settle()
    room = fake_slack.channel_named("inc-1-api-5xx-above-5")
    assert room is not None and sorted(room.members) == sorted([BOT, "U0ONCALL"])     # the bot opened it
    alert_ts = stored_card(bot.rt, "alert", "1")[1]
    assert [m.thread_ts for m in fake_slack.messages("C0ALERTS") if "own channel" in m.text] == [alert_ts]
    assert any("opened automatically from alert #1" in t for t in bot.texts(room.id))


def test_two_workers_at_once_make_one_channel(bot, fake_slack):
    bot.slash("incident open P1 Checkout is down", tag="open")
    wait_until(lambda: bot.room(), what="the channel to be asked for")
    workers = [bot.new_worker(board=slack_board(bot.rt)) for _ in range(2)]
    start = threading.Barrier(2)

    def run(worker):
        start.wait()
        for _ in range(5):
            worker.run_once()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    bot.settle()
    assert len(fake_slack.named("conversations.create")) == 1 and len(fake_slack.conversations) == 1
    [room] = fake_slack.conversations.values()
    assert len([m for m in fake_slack.messages(room.id) if m.metadata]) == 1        # one card
    assert len(fake_slack.named("pins.add", ok_only=True)) == 1


def _action_id(rt):
    with rt.sessions() as s:
        return s.scalars(select(PendingAction.id)).first()


def _action_state(rt):
    with rt.sessions() as s:
        return s.scalars(select(PendingAction.state)).first()
