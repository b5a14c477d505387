"""Named actions through Slack, end to end: signed `/ops run` and `/ops rollback` requests and button clicks into
the real Bolt app, the team's "script" (tests/fakes/action_script.py, which records its argv) run by the operation
runner, an HTTP action against a loopback server, and what people see in the fake Slack."""
import json
import sys
from pathlib import Path

import pytest
from slack_bolt import BoltRequest
from sqlalchemy import select

from bot.slack.bolt import build_bolt_app
from bot.storage.models import AuditEntry, PendingAction
from tests.fakes.recording_http import RecordingHttp
from tests.slackreq import action_body, signed_headers, slash_body
from tests.waiting import stored_card, wait_until

SCRIPT = str(Path(__file__).resolve().parents[1] / "fakes" / "action_script.py")
TOKEN = "tok-3f9a1c77e2"
CHANNEL = "C0ONCALL"


def config(tmp_path, far_end_url):
    script = {"cwd": str(tmp_path), "env": {"RECORD_TO": str(tmp_path / "record.jsonl"),
                                            "API_TOKEN": {"secret": "TEST_API_TOKEN"}}}
    return {
        "permissions": {"roles": {"deployer": ["U0ALICE"], "oncall": ["U0ALICE", "U0CAROL"]},
                        "commands": {"rollback": ["oncall"]}},
        "actions": [
            {"name": "rollback-production", "description": "Roll production back with the team's script",
             "roles": ["deployer"], "command": [sys.executable, SCRIPT, "{{args.mode}}", "--reason={{args.reason}}"],
             "args": {"mode": {"choices": ["ok", "fail", "echo"], "default": "echo"},
                      "reason": {"required": True},
                      "ticket": {"pattern": "OPS-[0-9]+"}},
             "dry_run": ["--dry-run"], **script},
            {"name": "stuck", "confirm": False, "timeout": "1s", "command": [sys.executable, SCRIPT, "hang"],
             **script},
            {"name": "retrain", "description": "Retrain the fares model", "confirm": False, "roles": ["oncall"],
             "secrets": {"CRON": {"secret": "TEST_API_TOKEN"}}, "args": {"model": {"default": "fares"}},
             "http": {"url": far_end_url + "/echo", "headers": {"X-Cron-Secret": "{{secret.CRON}}"},
                      "body": {"model": "{{args.model}}"}}},
        ],
        "services": [{"name": "parker-api", "rollback": {"action": "rollback-production",
                                                         "args": {"reason": "rollback from chat"}}}],
    }


@pytest.fixture
def far_end():
    server = RecordingHttp()
    yield server
    server.close()


@pytest.fixture
def bot(make_runtime, fake_slack, work_pool, tmp_path, far_end, monkeypatch):
    monkeypatch.setenv("TEST_API_TOKEN", TOKEN)
    rt = make_runtime(config(tmp_path, far_end.url), fake=fake_slack)
    app = build_bolt_app(rt, rt.board, work_pool=work_pool)

    def send(body, **headers):
        return app.dispatch(BoltRequest(body=body, headers=signed_headers(body, **headers)))

    def slash(text, user="U0ALICE", tag="cmd"):
        assert send(slash_body(text, user=user, response_url=f"{fake_slack.url}/response/{tag}")).status == 200

    def click(action_id, value, user, tag, ts):
        return send(action_body(action_id, value, user=user, message_ts=ts,
                                response_url=f"{fake_slack.url}/response/{tag}"))

    return rt, slash, click


def _recorded(tmp_path):
    path = tmp_path / "record.jsonl"
    return [json.loads(line)["argv"] for line in path.read_text().splitlines()] if path.exists() else []


def _state(rt):
    with rt.sessions() as s:
        return [row.state for row in s.scalars(select(PendingAction))]


def _proposed(rt, fake_slack):
    """The Confirm card just posted: its action id and ts."""
    card = fake_slack.wait_for("chat.postMessage")[-1]
    value = [e for b in card.body["blocks"] if b["type"] == "actions" for e in b["elements"]][0]["value"]
    where = wait_until(lambda: stored_card(rt, "action", value), what="the confirmation card's ts")
    return value, where[1]


def _card(fake_slack, ts):
    return json.dumps(next(m.blocks for m in fake_slack.messages(CHANNEL) if m.ts == ts), ensure_ascii=False)


def _thread(fake_slack, ts):
    return "\n".join(m.text for m in fake_slack.messages(CHANNEL) if m.thread_ts == ts)


def _everything(fake_slack):
    return json.dumps([c.body for c in fake_slack.calls], ensure_ascii=False)


def test_a_confirmed_action_runs_once_on_a_double_click_and_streams_to_the_thread(bot, fake_slack, tmp_path):
    rt, slash, click = bot
    evil = "bad deploy; rm -rf / $(id) `id`"
    slash(f"run rollback-production reason='{evil}' ticket=OPS-12")
    value, ts = _proposed(rt, fake_slack)
    card = _card(fake_slack, ts)
    assert "Run rollback-production?" in card and "Only admins or `deployer` may confirm" in card
    assert "--reason=" in card and _recorded(tmp_path) == []             # nothing ran before Confirm
    assert click("ops.confirm", value, "U0ALICE", "c1", ts).status == 200
    assert click("ops.confirm", value, "U0ALICE", "c2", ts).status == 200
    wait_until(lambda: _state(rt) == ["succeeded"], timeout=15, what="the action to finish")
    assert _recorded(tmp_path) == [["echo", f"--reason={evil}"]]          # once, and exactly the literal text
    wait_until(lambda: "done*" in _card(fake_slack, ts), what="the card to show the outcome")
    assert "exit code 0 after" in _card(fake_slack, ts)
    thread = _thread(fake_slack, ts)
    assert "confirmed: run rollback-production" in thread and "--reason=bad deploy; rm -rf /" in thread
    second = fake_slack.wait_for("/response/c2")[0].body
    assert second["response_type"] == "ephemeral" and "already" in second["text"]


def test_without_the_action_role_nobody_can_request_or_confirm_it(bot, fake_slack, tmp_path):
    rt, slash, click = bot
    slash("run rollback-production reason=x", user="U0BOB", tag="bob")
    answer = fake_slack.wait_for("/response/bob")[0].body
    assert "needs the role `deployer`" in answer["text"] and _state(rt) == []
    slash("run rollback-production reason=x", user="U0ALICE")
    value, ts = _proposed(rt, fake_slack)
    click("ops.confirm", value, "U0CAROL", "carol", ts)               # has `oncall`, not `deployer`
    notice = fake_slack.wait_for(lambda c: c.name == "/response/carol" and c.body.get("response_type") == "ephemeral")
    assert "needs the role `deployer`" in notice[0].body["text"]
    assert _state(rt) == ["awaiting_confirmation"] and _recorded(tmp_path) == []
    with rt.sessions() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (last.user_id, last.outcome, last.source) == ("U0CAROL", "not_allowed", "button")


@pytest.mark.parametrize(("text", "answer"), [
    ("run rollback-production reason=x colour=red", "`rollback-production` has no argument `colour`; it takes: "
                                                   "mode, reason, ticket"),
    ("run rollback-production reson=x", "did you mean `reason`?"),
    ("run rollback-production mode=ok", "`rollback-production` needs reason=…"),
    ("run rollback-production reason=x mode=nuke", "mode=`nuke` is not one of: ok, fail, echo"),
    ("run rollback-production reason=x ticket=JIRA-1", "ticket=`JIRA-1` does not match `OPS-[0-9]+`"),
    ("run rollback-production reason", "`reason` is not `key=value`"),
    ("run rollbak-production", "I don't know the action `rollbak-production`. Did you mean `rollback-production`?"),
    ("run stuck --dry-run", "`stuck` has no dry-run form"),
])
def test_bad_arguments_get_a_short_answer_and_nothing_runs(bot, fake_slack, tmp_path, text, answer):
    rt, slash, _ = bot
    slash(text, tag="bad")
    reply = fake_slack.wait_for("/response/bad")[0].body
    assert reply["response_type"] == "ephemeral" and answer in reply["text"], reply["text"]
    assert _state(rt) == [] and _recorded(tmp_path) == []


def test_dry_run_runs_the_dry_run_form_at_once(bot, fake_slack, tmp_path):
    rt, slash, _ = bot
    slash("run rollback-production reason=drill --dry-run", tag="dry")
    wait_until(lambda: _state(rt) == ["succeeded"], timeout=15, what="the dry run to finish")
    assert _recorded(tmp_path) == [["echo", "--reason=drill", "--dry-run"]]
    assert "Started the dry-run form" in fake_slack.wait_for("/response/dry")[0].body["text"]
    card = fake_slack.named("chat.postMessage")[0].body
    assert "Confirm" not in json.dumps(card["blocks"])                 # no buttons: it is already running
    wait_until(lambda: "done*" in _card(fake_slack, fake_slack.messages(CHANNEL)[0].ts), what="the outcome")


def test_an_action_that_outlives_its_timeout_fails_and_says_so(bot, fake_slack, tmp_path):
    rt, slash, _ = bot
    slash("run stuck", user="U0CAROL")
    wait_until(lambda: _state(rt) == ["failed"], timeout=20, what="the action to time out")
    ts = fake_slack.messages(CHANNEL)[0].ts
    card = wait_until(lambda: "failed*" in _card(fake_slack, ts) and _card(fake_slack, ts), what="the failed card")
    assert "timed out after 1s; its process group was killed" in card and "waiting forever" in card
    assert "waiting forever" in _thread(fake_slack, ts)


def test_a_non_zero_exit_fails_with_the_last_lines(bot, fake_slack, tmp_path):
    rt, slash, click = bot
    slash("run rollback-production mode=fail reason=x")
    value, ts = _proposed(rt, fake_slack)
    click("ops.confirm", value, "U0ALICE", "c", ts)
    wait_until(lambda: _state(rt) == ["failed"], timeout=15, what="the action to fail")
    card = wait_until(lambda: "failed*" in _card(fake_slack, ts) and _card(fake_slack, ts), what="the failed card")
    assert "exit code 3 after" in card and "error: release v41 not found" in card
    with rt.sessions() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.source == "operation")).all()
    assert [(r.subcommand, r.outcome) for r in rows] == [("run", "failed")]


def test_an_http_action_sends_its_secret_which_never_shows(bot, fake_slack, far_end):
    rt, slash, _ = bot
    slash("run retrain model=fares-v2", user="U0CAROL")
    wait_until(lambda: _state(rt) == ["succeeded"], timeout=15, what="the request to finish")
    sent = far_end.requests[0]
    assert sent.headers["x-cron-secret"] == TOKEN and json.loads(sent.body) == {"model": "fares-v2"}
    ts = fake_slack.messages(CHANNEL)[0].ts
    wait_until(lambda: "done*" in _card(fake_slack, ts), what="the card to show the outcome")
    assert "{{secret.CRON}}" in _card(fake_slack, ts)
    assert "HTTP 200 in" in _thread(fake_slack, ts) and "x-cron-secret" in _thread(fake_slack, ts)
    assert TOKEN not in _everything(fake_slack)                         # not on the card, in the thread, anywhere
    with rt.sessions() as s:
        assert TOKEN not in json.dumps([(a.command, a.detail) for a in s.scalars(select(AuditEntry))])
        assert TOKEN not in json.dumps([p.plan for p in s.scalars(select(PendingAction))])


def test_rollback_of_a_service_runs_the_teams_script(bot, fake_slack, tmp_path):
    rt, slash, click = bot
    slash("rollback parker-api", user="U0CAROL")
    value, ts = _proposed(rt, fake_slack)
    card = _card(fake_slack, ts)
    assert "Roll back parker-api?" in card and "--reason=rollback from chat" in card
    assert "Only admins, or people with `deployer` who also have `oncall` may confirm" in card
    click("ops.confirm", value, "U0CAROL", "carol", ts)            # the rollback role, not the action's: refused
    fake_slack.wait_for("/response/carol")
    assert _recorded(tmp_path) == []
    click("ops.confirm", value, "U0ALICE", "alice", ts)
    wait_until(lambda: _state(rt) == ["succeeded"], timeout=15, what="the rollback to finish")
    assert _recorded(tmp_path) == [["echo", "--reason=rollback from chat"]]


def test_a_database_backup_and_a_versioned_rollback_by_action(make_runtime, run_ops, tmp_path):
    """Without Slack (the console's path): `backup:` and `rollback: {to_arg}` run the action with their args."""
    script = {"cwd": str(tmp_path), "env": {"RECORD_TO": str(tmp_path / "record.jsonl")}}
    rt = make_runtime({
        "actions": [{"name": "dump", "command": [sys.executable, SCRIPT, "echo", "{{args.target}}"],
                     "args": {"target": {"required": True}}, **script},
                    {"name": "redeploy", "command": [sys.executable, SCRIPT, "echo", "--version={{args.version}}"],
                     "args": {"version": {"pattern": "v[0-9]+", "required": True}}, **script}],
        "services": [{"name": "api", "rollback": {"action": "redeploy", "to_arg": "version"}}],
        "databases": [{"name": "prod-db", "backup": {"action": "dump", "args": {"target": "s3://backups/prod"}}}]})
    proposal = run_ops(rt, "backup prod-db")
    assert proposal.card and "Back up prod-db?" in proposal.text + json.dumps(repr(proposal.blocks))
    assert run_ops(rt, f"confirm {proposal.card.key}").outcome == "confirmed"
    assert rt.operations.get(proposal.card.key).state == "succeeded"
    refused = run_ops(rt, "rollback api to latest")
    assert refused.outcome == "not_possible" and "version=`latest` does not match `v[0-9]+`" in refused.text
    proposal = run_ops(rt, "rollback api to v41")
    assert run_ops(rt, f"confirm {proposal.card.key}").outcome == "confirmed"
    assert _recorded(tmp_path) == [["echo", "s3://backups/prod"], ["echo", "--version=v41"]]


def test_a_restart_by_action_and_a_four_eyes_action(make_runtime, run_ops, tmp_path):
    """`restart: {action}` runs the team's script as /ops restart; `approvals: 2` on an action needs the
    requester and one other person, and the requester never counts twice."""
    script = {"cwd": str(tmp_path), "env": {"RECORD_TO": str(tmp_path / "record.jsonl")}}
    rt = make_runtime({
        "permissions": {"admins": ["U0ADMIN"], "roles": {"deployer": ["U0ALICE", "U0BOB"]}},
        "actions": [{"name": "eb-restart", "command": [sys.executable, SCRIPT, "echo", "restart", "{{args.env}}"],
                     "args": {"env": {"required": True}}, **script},
                    {"name": "deploy", "roles": ["deployer"], "approvals": 2,
                     "command": [sys.executable, SCRIPT, "echo", "deploy"], **script}],
        "services": [{"name": "awning-api", "restart": {"action": "eb-restart", "args": {"env": "awning-prod"}}}]})
    proposal = run_ops(rt, "restart awning-api")
    assert proposal.card and "Restart awning-api?" in proposal.text + repr(proposal.blocks)
    assert run_ops(rt, f"confirm {proposal.card.key}").outcome == "confirmed"
    assert rt.operations.get(proposal.card.key).state == "succeeded"
    assert _recorded(tmp_path) == [["echo", "restart", "awning-prod"]]

    proposal = run_ops(rt, "run deploy", user="U0ALICE")
    first = run_ops(rt, f"confirm {proposal.card.key}", user="U0ALICE")
    assert first.outcome == "approved" and "1 of 2" in first.text
    again = run_ops(rt, f"confirm {proposal.card.key}", user="U0ALICE")
    assert again.outcome in ("conflict", "not_allowed") and len(_recorded(tmp_path)) == 1
    assert run_ops(rt, f"confirm {proposal.card.key}", user="U0BOB").outcome == "confirmed"
    assert rt.operations.get(proposal.card.key).state == "succeeded"
    assert _recorded(tmp_path)[-1] == ["echo", "deploy"]


def test_an_action_that_needs_approvals_must_ask_for_confirmation(make_runtime):
    from bot.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"actions\[0\]\.approvals: 2 people must confirm, but `confirm: false`"):
        parse_config({"actions": [{"name": "x", "confirm": False, "approvals": 2, "cwd": "/tmp",
                                   "command": ["true"]}]})
