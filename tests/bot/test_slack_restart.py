"""`/ops restart` end to end through signed Slack requests, on the Kubernetes emulator (kmock): the card, the
role check, one patch for a double click, progress in the thread and the outcome on the card and in the audit."""
import json
import threading

import pytest
from slack_bolt import BoltRequest
from sqlalchemy import select

from bot.slack.bolt import build_bolt_app
from bot.storage.models import AuditEntry, PendingAction
from integrations.kubernetes import RESTARTED_AT
from tests.fakes.kube import kube, kubeconfig  # noqa: F401  (fixture)
from tests.slackreq import action_body, signed_headers, slash_body
from tests.waiting import stored_card, wait_until


def config(tmp_path, server):
    return {"integrations": {"kubernetes": {"kubeconfig": kubeconfig(tmp_path, server), "context": "prod",
                                            "timeout": "2s", "poll_interval": "100ms"}},
            "permissions": {"roles": {"deployer": ["U0ALICE", "U0BOB"]}, "commands": {"restart": ["deployer"]}},
            "services": [{"name": "backend", "kubernetes": {"deployment": "web", "namespace": "prod"}}]}


@pytest.fixture
def bot(make_runtime, fake_slack, work_pool, kube, tmp_path):  # noqa: F811
    kube.seed_deployment()
    rt = make_runtime(config(tmp_path, kube.url), fake=fake_slack)
    app = build_bolt_app(rt, rt.board, work_pool=work_pool)

    def send(body):
        return app.dispatch(BoltRequest(body=body, headers=signed_headers(body)))

    def click(value, user, tag):
        return send(action_body("ops.confirm", value, user=user, message_ts="1700000000.000001",
                                response_url=f"{fake_slack.url}/response/{tag}"))

    return rt, send, click


def _state(rt):
    with rt.sessions() as s:
        row = s.scalars(select(PendingAction)).one_or_none()
        return row.state if row else None


def _restarts(kube):  # noqa: F811
    """Each stored version of the Deployment whose pod template carries a restartedAt different from the one before."""
    seen, values = None, []
    for version in kube.history("apps/v1/deployments", "prod", "web"):
        value = ((version["spec"]["template"].get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)
        if value != seen:
            values.append(value)
        seen = value
    return [v for v in values if v]


def test_restart_card_double_click_patches_once_and_reports(bot, fake_slack, kube):  # noqa: F811
    rt, send, click = bot
    assert send(slash_body("restart backend", user="U0CAROL", response_url=fake_slack.url + "/response/p")).status \
        == 200
    card = fake_slack.wait_for("chat.postMessage")[0].body
    shown = json.dumps(card["blocks"], ensure_ascii=False)
    assert "Restart backend?" in shown and "3/3 ready (web:3), last restarted never" in shown
    assert "Only admins or `deployer` may confirm" in shown and "Confirm restart" in shown
    value = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]][0]["value"]
    wait_until(lambda: stored_card(rt, "action", value), what="the confirmation card's ts")

    # two people click Confirm at the same moment: one restart
    clicks = [threading.Thread(target=click, args=(value, user, tag)) for user, tag in (("U0ALICE", "a"),
                                                                                         ("U0BOB", "b"))]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join(10)
    wait_until(lambda: _state(rt) == "succeeded", timeout=15, what="the restart to finish")
    notice = fake_slack.wait_for(lambda c: c.name.startswith("/response/") and "already" in c.body.get("text", ""))
    assert "Nothing more was done." in notice[0].body["text"]
    assert len(_restarts(kube)) == 1
    final = wait_until(lambda: [c for c in fake_slack.named("chat.update") if "done*" in json.dumps(c.body["blocks"])],
                       what="the card to show the outcome")
    assert f"restarted at {_restarts(kube)[0]}: 3/3 ready" in json.dumps(final[-1].body["blocks"])
    thread = [c.body["text"] for c in fake_slack.named("chat.postMessage") if c.body.get("thread_ts")]
    assert any(f"Set {RESTARTED_AT}=" in t and "waiting for the new pods" in t for t in thread), thread
    assert rt.operations.runner.idle(timeout=10)
    with rt.sessions() as s:
        outcomes = [(a.subcommand, a.outcome) for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert ("restart", "proposed") in outcomes and ("confirm", "confirmed") in outcomes
    assert ("confirm", "conflict") in outcomes              # the second click (audited before or after the end)
    assert [o for _, o in outcomes].count("succeeded") == 1 and [o for _, o in outcomes].count("confirmed") == 1


def test_restart_click_without_the_role_changes_nothing(bot, fake_slack, kube):  # noqa: F811
    rt, send, click = bot
    send(slash_body("restart backend", user="U0CAROL", response_url=fake_slack.url + "/response/p"))
    card = fake_slack.wait_for("chat.postMessage")[0].body
    value = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]][0]["value"]
    wait_until(lambda: stored_card(rt, "action", value), what="the confirmation card's ts")
    click(value, "U0MALLORY", "bad")
    notice = fake_slack.wait_for(lambda c: c.name == "/response/bad" and c.body.get("response_type") == "ephemeral")
    assert "needs the role `deployer`" in notice[0].body["text"]
    assert _state(rt) == "awaiting_confirmation" and _restarts(kube) == []
