"""Named actions run for real: a Python script as the team's command (it records its argv and environment), and a
loopback HTTP server as the far end of an HTTP action. No shell is ever involved; secrets never show."""
import json
import os
import sys
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.masking import MASK
from integrations.actions import NamedAction
from integrations.base import NotPossibleError
from integrations.command import BASE_ENV, LineBatcher
from tests.fakes.recording_http import RecordingHttp
from tests.waiting import wait_until

SCRIPT = str(Path(__file__).resolve().parents[1] / "fakes" / "action_script.py")
TOKEN = "tok-3f9a1c77e2"
INJECTIONS = ["; rm -rf /", "$(id)", "`id`", "a && touch /tmp/pwned", "| cat /etc/passwd", "x\ny", "'\"", "*",
              "--help", "{{secret.API_TOKEN}}", "$HOME"]


def _action(tmp_path, **over):
    raw = {"name": "script", "cwd": str(tmp_path), "command": [sys.executable, SCRIPT, "{{args.mode}}",
                                                               "{{args.reason}}"],
           "args": {"mode": {"choices": ["ok", "fail", "hang", "echo"], "default": "ok"}, "reason": {}},
           "env": {"RECORD_TO": str(tmp_path / "record.jsonl"), "API_TOKEN": {"secret": "TEST_API_TOKEN"}},
           "dry_run": ["--dry-run"]} | over
    return NamedAction(parse_config({"actions": [raw]}).actions[0])


def _records(tmp_path):
    path = tmp_path / "record.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("TEST_API_TOKEN", TOKEN)
    monkeypatch.setenv("OPSBOT_SHOULD_NOT_LEAK", "bot-only")


@pytest.mark.parametrize("evil", INJECTIONS)
def test_an_argument_reaches_the_program_as_one_literal_argv_item(tmp_path, evil):
    action = _action(tmp_path)
    lines = []
    outcome = action.run(action.plan_run({"mode": "echo", "reason": evil}), progress=lines.append)
    assert outcome.ok, outcome.summary
    assert _records(tmp_path)[0]["argv"] == ["echo", evil]          # exactly the literal string, one item
    assert not Path("/tmp/pwned").exists()


def test_the_environment_is_only_what_the_action_names_and_its_secret_is_masked(tmp_path):
    action = _action(tmp_path)
    lines = []
    outcome = action.run(action.plan_run({"mode": "ok"}), progress=lines.append)
    record = _records(tmp_path)[0]
    assert outcome.ok and outcome.summary.startswith("exit code 0 after")
    assert record["argv"] == ["ok"]                   # the optional `reason` left out: no empty item
    assert record["cwd"] == str(tmp_path)
    assert record["env"]["API_TOKEN"] == TOKEN        # the script got the secret ...
    assert set(record["env"]) - {"PWD"} <= {"RECORD_TO", "API_TOKEN", *BASE_ENV}   # ... and nothing of the bot's
    assert "OPSBOT_SHOULD_NOT_LEAK" not in record["env"] and "TEST_API_TOKEN" not in record["env"]
    shown = "\n".join(lines)
    assert "line 1" in shown and "line 3" in shown
    assert TOKEN not in shown and f"token is {MASK}" in shown          # ... which is masked in what we show


def test_a_non_zero_exit_fails_with_its_last_lines(tmp_path):
    action = _action(tmp_path)
    outcome = action.run(action.plan_run({"mode": "fail"}), progress=lambda line: None)
    assert not outcome.ok
    assert outcome.summary.startswith("exit code 3 after")
    assert "error: release v41 not found" in outcome.summary and "checking the release" in outcome.summary


def test_a_timeout_kills_the_whole_process_group(tmp_path):
    action = _action(tmp_path, timeout="1s")
    lines = []
    outcome = action.run(action.plan_run({"mode": "hang"}), progress=lines.append)
    assert not outcome.ok
    assert outcome.summary.startswith("timed out after 1s; its process group was killed")
    assert "waiting forever" in outcome.summary
    pids = json.loads(Path(f"{tmp_path / 'record.jsonl'}.pids").read_text())

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"

    wait_until(lambda: all(gone(p) for p in pids), timeout=10, what="the script and its child to be killed")


def test_the_dry_run_form_appends_its_argv(tmp_path):
    action = _action(tmp_path)
    plan = action.plan_run({"mode": "echo", "reason": "drill"}, dry_run=True)
    assert plan.dry_run and plan.desired.endswith("echo drill --dry-run")
    assert action.run(plan, progress=lambda line: None).ok
    assert _records(tmp_path)[0]["argv"] == ["echo", "drill", "--dry-run"]


def test_an_action_without_a_dry_run_form_refuses_one(tmp_path):
    action = _action(tmp_path, dry_run=None)
    with pytest.raises(NotPossibleError, match="has no dry-run form"):
        action.plan_run({}, dry_run=True)


def test_a_missing_secret_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_API_TOKEN")
    action = _action(tmp_path)
    outcome = action.run(action.plan_run({}), progress=lambda line: None)
    assert not outcome.ok and "TEST_API_TOKEN is not set; nothing was run" in outcome.summary
    assert _records(tmp_path) == []


def test_a_missing_program_or_directory_says_so(tmp_path):
    gone = _action(tmp_path, command=["no-such-program-here"])
    outcome = gone.run(gone.plan_run({}), progress=lambda line: None)
    assert not outcome.ok and "`no-such-program-here` was not found" in outcome.summary
    nowhere = _action(tmp_path, cwd=str(tmp_path / "missing"))
    outcome = nowhere.run(nowhere.plan_run({}), progress=lambda line: None)
    assert not outcome.ok and "does not exist; nothing was run" in outcome.summary


def test_output_is_batched_and_capped():
    posts: list[str] = []
    now = [0.0]
    batcher = LineBatcher(posts.append, mask=str, every=2.0, lines=40, max_lines=100, now=lambda: now[0])
    for i in range(30):
        batcher.add(f"line {i}\n")
    batcher.tick()
    assert posts == []                               # neither 2 s nor 40 lines yet
    now[0] = 2.5
    batcher.tick()
    assert len(posts) == 1 and posts[0].count("\n") == 31        # one code block with 30 lines
    for i in range(200):
        batcher.add(f"more {i} <!channel>")
    batcher.close()
    assert len(posts) == 4 and posts[-1] == "… 130 more line(s) of output not shown."   # 30 + 40 + 30 lines
    assert "<!channel>" not in "".join(posts) and "&lt;!channel&gt;" in posts[1]


# --- HTTP actions -------------------------------------------------------------------------------------------

@pytest.fixture
def far_end():
    server = RecordingHttp()
    yield server
    server.close()


def _http(far_end, path="/echo", **over):
    raw = {"name": "retrain", "secrets": {"CRON": {"secret": "TEST_API_TOKEN"}},
           "args": {"model": {"pattern": "[a-z0-9 /?&=.-]+", "required": True}},
           "http": {"method": "post", "url": far_end.url + path + "?model={{args.model}}",
                    "headers": {"X-Cron-Secret": "{{secret.CRON}}", "X-Model": "{{args.model}}"},
                    "body": {"model": "{{args.model}}", "note": "from {{args.model}}", "n": 3}},
           "dry_run": {"query": {"dry_run": "1"}, "headers": {"X-Dry-Run": "yes"}}} | over
    return NamedAction(parse_config({"actions": [raw]}).actions[0])


def test_an_http_action_sends_its_secret_and_arguments_and_shows_neither_secret(far_end):
    action = _http(far_end)
    plan = action.plan_run({"model": "fares/v2?x=1&y"})
    assert "{{secret.CRON}}" in plan.desired and TOKEN not in plan.desired
    lines = []
    outcome = action.run(plan, progress=lines.append)
    assert outcome.ok and outcome.summary.startswith("HTTP 200 in")
    sent = far_end.requests[0]
    assert sent.method == "POST" and sent.path == "/echo"
    assert sent.query == {"model": ["fares/v2?x=1&y"]}                 # one query value: percent-encoded
    assert sent.headers["x-cron-secret"] == TOKEN and sent.headers["x-model"] == "fares/v2?x=1&y"
    assert json.loads(sent.body) == {"model": "fares/v2?x=1&y", "note": "from fares/v2?x=1&y", "n": 3}
    assert "x-dry-run" not in sent.headers
    shown = "\n".join(lines)
    assert "x-cron-secret" in shown and TOKEN not in shown            # the answer echoed it: masked


def test_an_argument_that_looks_like_a_template_stays_text(far_end):
    action = _http(far_end, args={"model": {}})
    assert action.run(action.plan_run({"model": "{{secret.CRON}}"}), progress=lambda line: None).ok
    sent = far_end.requests[0]
    assert json.loads(sent.body)["model"] == "{{secret.CRON}}" and TOKEN not in sent.body.decode()


def test_the_http_dry_run_adds_its_query_and_header(far_end):
    action = _http(far_end)
    assert action.run(action.plan_run({"model": "m"}, dry_run=True), progress=lambda line: None).ok
    sent = far_end.requests[0]
    assert sent.query == {"model": ["m"], "dry_run": ["1"]} and sent.headers["x-dry-run"] == "yes"


def test_an_unexpected_status_fails_with_the_answer(far_end):
    action = _http(far_end, path="/fail")
    outcome = action.run(action.plan_run({"model": "m"}), progress=lambda line: None)
    assert not outcome.ok
    assert outcome.summary.startswith("HTTP 500 in") and "expected 2xx" in outcome.summary
    assert "retrain already running" in outcome.summary


def test_an_http_action_that_gets_no_answer_in_time_fails(far_end):
    action = _http(far_end, path="/slow", timeout="1s",
                   http={"url": far_end.url + "/slow?s=3", "method": "GET"}, secrets={}, dry_run=None)
    outcome = action.run(action.plan_run({"model": "m"}), progress=lambda line: None)
    assert not outcome.ok and outcome.summary.startswith("no answer within 1s")
