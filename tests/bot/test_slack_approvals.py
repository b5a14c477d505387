"""Four-eyes approval end to end: signed Slack requests, a real scale of a Deployment on the Kubernetes
emulator, on both databases. `approvals: 2` means the requester and one other person with the role (or two
others); the requester never counts as the second, one person counts once, approvals expire with the request,
and two people confirming at once (on two replicas) scale it once."""
import json
import threading

import pytest
from slack_bolt import BoltRequest
from sqlalchemy import select

from bot.slack.bolt import build_bolt_app
from bot.storage.models import ActionApproval, AuditEntry, PendingAction
from tests.fakes.kube import kube, kubeconfig  # noqa: F401  (fixture)
from tests.slackreq import action_body, signed_headers, slash_body
from tests.waiting import stored_card, wait_until

CARD_TS = "1700000000.000001"
SLOW = 30.0     # the first plan loads the Kubernetes client; on a busy 2-core machine that takes seconds


def config(tmp_path, server):
    return {
        "integrations": {"kubernetes": {"kubeconfig": kubeconfig(tmp_path, server), "context": "prod",
                                        "timeout": "2s", "poll_interval": "100ms"}},
        "permissions": {"roles": {"sre": ["U0CAROL", "U0ALICE", "U0BOB"]}, "commands": {"scale": ["sre"]}},
        "services": [{"name": "backend", "kubernetes": {"deployment": "web", "namespace": "prod"}, "approvals": 2}],
    }


class Replica:
    """One bot process's Slack edge over the shared database."""

    def __init__(self, rt, fake_slack, work_pool):
        self.rt, self.fake = rt, fake_slack
        self.app = build_bolt_app(rt, rt.board, work_pool=work_pool)

    def send(self, body):
        return self.app.dispatch(BoltRequest(body=body, headers=signed_headers(body)))

    def click(self, user, tag, action="ops.confirm", value=None):
        value = value or _action(self.rt).id
        assert self.send(action_body(action, value, user=user, message_ts=CARD_TS,
                                     response_url=f"{self.fake.url}/response/{tag}")).status == 200


@pytest.fixture
def bot(make_runtime, fake_slack, work_pool, kube, tmp_path):  # noqa: F811
    kube.seed_deployment()
    # what the Deployment controller would report once 5 replicas run: the scale finishes at its first check
    kube.set_status("apps/v1/deployments", "prod", "web", {"replicas": 5, "readyReplicas": 5,
                                                           "updatedReplicas": 5, "availableReplicas": 5})
    replicas = []

    def replica():
        replicas.append(Replica(make_runtime(config(tmp_path, kube.url), fake=fake_slack), fake_slack, work_pool))
        return replicas[-1]

    first = replica()
    first.send(slash_body("scale backend 5", user="U0CAROL", response_url=fake_slack.url + "/response/ask"))
    fake_slack.wait_for("chat.postMessage", timeout=SLOW)
    wait_until(lambda: stored_card(first.rt, "action", _action(first.rt).id), timeout=SLOW, what="the card's ts")
    return first, replica


def _action(rt):
    def stored():
        with rt.sessions() as s:
            return s.scalars(select(PendingAction)).one_or_none()

    return wait_until(stored, timeout=SLOW, what="the pending action")


def _state(rt):
    with rt.sessions() as s:
        return s.scalars(select(PendingAction.state)).one()


def _approvers(rt):
    with rt.sessions() as s:
        return [a.user_id for a in s.scalars(select(ActionApproval).order_by(ActionApproval.id))]


def _audit(rt, *, source="button"):
    with rt.sessions() as s:
        return [(a.user_id, a.outcome) for a in s.scalars(select(AuditEntry).where(AuditEntry.source == source)
                                                          .order_by(AuditEntry.id))]


def _approved(rt, user):
    """Wait until `user`'s click is done: the approval stored and the click's audit row written."""
    wait_until(lambda: _approvers(rt) == [user] and _audit(rt) == [(user, "approved")], timeout=SLOW,
               what=f"{user}'s approval")


def _card(fake_slack):
    [card] = [m for m in fake_slack.messages("C0ONCALL") if m.ts == CARD_TS]
    return json.dumps(card.blocks, ensure_ascii=False)


def _replicas(kube):  # noqa: F811
    return kube.get("apps/v1/deployments", "prod", "web")["spec"]["replicas"]


def _scalings(kube):  # noqa: F811
    """How many times the Deployment's replica count was changed (each stored version against the one before)."""
    counts = [v["spec"]["replicas"] for v in kube.history("apps/v1/deployments", "prod", "web")]
    return sum(1 for before, after in zip(counts, counts[1:], strict=False) if before != after)


def _answer(fake_slack, tag):
    [call] = fake_slack.wait_for(lambda c: c.name == f"/response/{tag}", timeout=SLOW)
    return call.body


def test_the_card_says_two_people_must_confirm(bot, fake_slack):
    card = _card(fake_slack)
    assert "Scale backend?" in card and "3 replicas  →  5 replicas" in card
    assert "Four-eyes: 2 different people must confirm (admins or `sre`); <@U0CAROL>, who asked, counts only " \
           "as the first" in card


def test_the_requester_and_one_other_person_scale_it_once(bot, fake_slack, kube):  # noqa: F811
    replica, _ = bot
    rt = replica.rt
    replica.click("U0CAROL", "carol")
    wait_until(lambda: "Approved by <@U0CAROL> (1 of 2)" in _card(fake_slack), timeout=SLOW,
               what="the card to show approval 1")
    assert "needs one more from admins or `sre` (not <@U0CAROL>, who asked)" in _card(fake_slack)
    assert _state(rt) == "awaiting_confirmation" and _replicas(kube) == 3
    [line] = [m.text for m in fake_slack.messages("C0ONCALL") if m.thread_ts == CARD_TS]
    assert line.startswith(":ballot_box_with_check: <@U0CAROL> approved the scale of *backend* (1 of 2)")

    replica.click("U0BOB", "bob")
    wait_until(lambda: _state(rt) == "succeeded", timeout=SLOW, what="the scale to finish")
    assert _replicas(kube) == 5 and _scalings(kube) == 1
    final = wait_until(lambda: "done*" in _card(fake_slack) and _card(fake_slack), timeout=SLOW,
                       what="the finished card")
    assert "scaled: 5/5 ready" in final and "approved by <@U0CAROL>, <@U0BOB>" in final
    assert _approvers(rt) == ["U0CAROL", "U0BOB"] and _action(rt).decided_by == "U0BOB"
    assert _audit(rt) == [("U0CAROL", "approved"), ("U0BOB", "confirmed")]
    assert _audit(rt, source="operation") == [("U0BOB", "succeeded")]


def test_two_other_people_will_do_without_the_requester(bot, fake_slack, kube):  # noqa: F811
    replica, _ = bot
    replica.click("U0ALICE", "alice")
    wait_until(lambda: "Approved by <@U0ALICE> (1 of 2)" in _card(fake_slack), timeout=SLOW, what="approval 1")
    assert "(not <@U0ALICE>, <@U0CAROL>, who asked)" in _card(fake_slack)
    replica.click("U0BOB", "bob")
    wait_until(lambda: _state(replica.rt) == "succeeded", timeout=SLOW, what="the scale to finish")
    assert _replicas(kube) == 5


def test_the_requester_cannot_be_the_second_approver(bot, fake_slack, kube):  # noqa: F811
    replica, _ = bot
    replica.click("U0ALICE", "alice")
    _approved(replica.rt, "U0ALICE")
    replica.click("U0CAROL", "carol")
    answer = _answer(fake_slack, "carol")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == "You asked for this scale, so you can't be its second approver: a different person " \
                             "must confirm it. Nothing was changed."
    assert _state(replica.rt) == "awaiting_confirmation" and _replicas(kube) == 3
    assert _approvers(replica.rt) == ["U0ALICE"]
    assert _audit(replica.rt) == [("U0ALICE", "approved"), ("U0CAROL", "not_allowed")]


@pytest.mark.parametrize("first", ["U0CAROL", "U0ALICE"])
def test_one_person_counts_once(bot, fake_slack, kube, first):  # noqa: F811
    replica, _ = bot
    replica.click(first, "once")
    _approved(replica.rt, first)
    replica.click(first, "twice")
    answer = _answer(fake_slack, "twice")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("You already approved this scale (1 of 2); one person counts once.")
    assert _state(replica.rt) == "awaiting_confirmation" and _replicas(kube) == 3
    assert _audit(replica.rt) == [(first, "approved"), (first, "conflict")]


def test_someone_without_the_role_cannot_approve(bot, fake_slack, kube):  # noqa: F811
    replica, _ = bot
    replica.click("U0CAROL", "carol")
    _approved(replica.rt, "U0CAROL")
    replica.click("U0MALLORY", "mallory")
    answer = _answer(fake_slack, "mallory")
    assert answer["response_type"] == "ephemeral" and "needs the role `sre`" in answer["text"]
    assert _state(replica.rt) == "awaiting_confirmation" and _replicas(kube) == 3
    assert _approvers(replica.rt) == ["U0CAROL"]
    assert _audit(replica.rt) == [("U0CAROL", "approved"), ("U0MALLORY", "not_allowed")]


def test_approvals_expire_with_the_request(bot, fake_slack, kube, clock):  # noqa: F811
    replica, _ = bot
    replica.click("U0CAROL", "carol")
    _approved(replica.rt, "U0CAROL")
    clock.advance(minutes=15)
    replica.click("U0BOB", "bob")
    answer = _answer(fake_slack, "bob")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("This scale request expired at 03:15 UTC without confirmation (1 of 2 "
                                     "approvals); nothing was changed.")
    wait_until(lambda: "expired* with 1 of 2 approvals" in _card(fake_slack), timeout=SLOW,
               what="the card to show expiry")
    assert _state(replica.rt) == "awaiting_confirmation" and _replicas(kube) == 3
    assert _audit(replica.rt) == [("U0CAROL", "approved"), ("U0BOB", "conflict")]


def test_two_second_approvals_at_once_on_two_replicas_scale_it_once(bot, fake_slack, kube):  # noqa: F811
    first, replica = bot
    second = replica()
    first.click("U0CAROL", "carol")
    _approved(first.rt, "U0CAROL")
    start = threading.Barrier(2)

    def click(on, user):
        start.wait(5)
        on.click(user, user)

    threads = [threading.Thread(target=click, args=(on, user)) for on, user in ((first, "U0ALICE"),
                                                                                  (second, "U0BOB"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    wait_until(lambda: _state(first.rt) == "succeeded", timeout=SLOW, what="the scale to finish")
    assert first.rt.operations.runner.idle(timeout=10) and second.rt.operations.runner.idle(timeout=10)
    outcomes = wait_until(lambda: len(_audit(first.rt)) == 3 and _audit(first.rt), timeout=SLOW,
                          what="both clicks' audit rows")
    winner = _action(first.rt).decided_by
    loser = "U0BOB" if winner == "U0ALICE" else "U0ALICE"
    assert sorted(outcomes) == sorted([("U0CAROL", "approved"), (winner, "confirmed"), (loser, "conflict")])
    assert "already confirmed and running" in _answer(fake_slack, loser)["text"] \
        or "already done" in _answer(fake_slack, loser)["text"]
    assert _approvers(first.rt) == ["U0CAROL", winner]
    assert _replicas(kube) == 5 and _scalings(kube) == 1
    assert _audit(first.rt, source="operation") == [(winner, "succeeded")]
