"""/ops logs end to end: signed slash commands into the Bolt app, the real adapters against Kubernetes on kmock
and CloudWatch Logs on moto, answers and uploaded files in the fake Slack."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from slack_bolt import BoltRequest
from sqlalchemy import select

from bot.masking import MASK
from bot.slack.bolt import build_bolt_app
from bot.storage.models import AuditEntry
from tests.fakes.aws import aws, moto_server  # noqa: F401  (fixtures)
from tests.fakes.kube import closed_port_url, kube, kubeconfig  # noqa: F401  (fixture)
from tests.slackreq import signed_headers, slash_body

API_KEY = "sk-live-0f9e8d7c6b5a"          # a secret the config names, in no credential shape of its own


def config(tmp_path, kube_url):
    return {
        "integrations": {
            "aws": {"region": "us-east-1", "connect_timeout": "1s", "read_timeout": "3s"},
            "kubernetes": {"kubeconfig": kubeconfig(tmp_path, kube_url), "context": "prod", "timeout": "1s"}},
        "permissions": {"roles": {"oncall": ["U0ALICE"]}, "commands": {"logs": ["oncall"]}},
        "services": [
            {"name": "backend", "kubernetes": {"deployment": "web", "namespace": "prod"},
             "logs": {"mask": [{"secret": "PAYMENTS_API_KEY"}]}},
            {"name": "weather-monitor", "lambda": {"function": "weather-monitor-production"}},
            {"name": "website"}],
    }


@pytest.fixture
def bot(make_runtime, fake_slack, work_pool, kube, aws, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("PAYMENTS_API_KEY", API_KEY)
    rt = make_runtime(config(tmp_path, kube.url), fake=fake_slack, real_clock=True)
    app = build_bolt_app(rt, rt.board, work_pool=work_pool)

    def ops(text, *, user="U0ALICE", tag="r"):
        body = slash_body(text, user=user, response_url=f"{fake_slack.url}/response/{tag}")
        response = app.dispatch(BoltRequest(body=body, headers=signed_headers(body)))
        assert response.status == 200
        return fake_slack.wait_for(f"/response/{tag}", timeout=15)[0].body

    return rt, ops


def _code(answer):
    return "\n".join(b["text"]["text"] for b in answer["blocks"] if b["type"] == "section"
                     and b["text"]["text"].startswith("```"))


def _context(answer):
    return " ".join(e["text"] for b in answer["blocks"] if b["type"] == "context" for e in b["elements"])


def test_pod_logs_masked_newest_pod_first_and_the_rest_uploaded_to_the_asker(bot, kube, fake_slack):  # noqa: F811
    rt, ops = bot
    kube.seed_deployment()
    kube.seed_pod("web-h3-old", "prod", owner_rs="web-h3", age_s=600)
    kube.seed_pod("web-h3-new", "prod", owner_rs="web-h3", age_s=5)
    kube.write_log("prod", "web-h3-old", [f"GET /flights/{i} 200 in 12 ms" + " " * 60 + "padding" for i in range(400)])
    kube.write_log("prod", "web-h3-new", [f"calling payments with key {API_KEY}",
                                          "Authorization: Bearer abcdefghijklmnop123", "ERROR upstream timeout"])
    answer = ops("logs backend --tail 400")
    assert answer["response_type"] == "ephemeral"
    shown = _code(answer)
    assert API_KEY not in json.dumps(answer) and "abcdefghijklmnop123" not in json.dumps(answer)
    assert f"[web-h3-new] calling payments with key {MASK}" in shown
    assert shown.index("[web-h3-new]") < shown.index("[web-h3-old]")              # the newest pod first
    assert "[web-h3-old] GET /flights/399 200" in shown                          # ... and each pod's newest lines
    assert "earlier line(s) of web-h3-old not shown" in shown
    assert all(len(b["text"]["text"]) <= 3000 for b in answer["blocks"] if b["type"] == "section")

    [upload] = fake_slack.files
    assert upload.channel == fake_slack.im("U0ALICE") and upload.filename.startswith("logs-backend-")
    full = upload.content.decode()
    assert "[web-h3-old] GET /flights/0 200" in full and len(full.splitlines()) == 2 + 403
    assert API_KEY not in full and f"Bearer {MASK}" in full
    steps = [c.name for c in fake_slack.calls if c.name.startswith(("files.", "/upload/"))]
    assert steps == ["files.getUploadURLExternal", f"/upload/{upload.id}", "files.completeUploadExternal"]
    assert "The full text (405 lines" in _context(answer) and "in your direct messages with me" in _context(answer)

    with rt.sessions() as s:
        audit = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (audit.subcommand, audit.outcome, audit.user_id) == ("logs", "ok", "U0ALICE")


def test_a_short_answer_has_no_file_and_grep_is_matched_after_masking(bot, kube, fake_slack):  # noqa: F811
    rt, ops = bot
    kube.seed_deployment()
    kube.seed_pod("web-h3-a", "prod", owner_rs="web-h3")
    kube.write_log("prod", "web-h3-a", [f"using {API_KEY}", "ERROR db", "INFO ok", "error lower case"])
    answer = ops("logs backend --grep ERROR", tag="grep")
    assert _code(answer) == "```\n[web-h3-a] ERROR db\n```"                      # case-sensitive, plain substring
    assert fake_slack.files == [] and kube.log_reads[-1]["tailLines"] == "5000"
    guess = ops(f"logs backend --grep {API_KEY[:9]}", tag="guess")                 # no oracle for a secret
    assert "No log lines containing" in json.dumps(guess)


def test_lambda_logs_from_its_cloudwatch_group(bot, aws, fake_slack):  # noqa: F811
    rt, ops = bot
    now = datetime.now(UTC)
    logs = aws.seed("logs")
    group, stream = "/aws/lambda/weather-monitor-production", "2026/12/01/[$LATEST]aaaabbbbccccdddd0000111122223333"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
        {"timestamp": int((now - timedelta(minutes=m)).timestamp() * 1000), "message": text}
        for m, text in ((90, "ERROR long ago"), (20, "ERROR password=tiger123 rejected"), (2, "INFO fine"),
                        (1, "ERROR KeyError: 'flight_id'"))])
    answer = ops("logs weather-monitor --since 30m --grep ERROR", tag="cw")
    shown = _code(answer)
    assert "log group /aws/lambda/weather-monitor-production" in json.dumps(answer)
    assert f"…22223333] ERROR password={MASK} rejected" in shown and "ERROR KeyError: 'flight_id'" in shown
    assert "long ago" not in shown and "INFO fine" not in shown and "tiger123" not in json.dumps(answer)


def test_upload_refused_says_why_and_still_answers(bot, kube, fake_slack):  # noqa: F811
    rt, ops = bot
    kube.seed_deployment()
    kube.seed_pod("web-h3-a", "prod", owner_rs="web-h3")
    kube.write_log("prod", "web-h3-a", ["x" * 500])                              # too long for the answer
    fake_slack.fail("files.getUploadURLExternal", error="missing_scope")
    answer = ops("logs backend", tag="noscope")
    assert "[web-h3-a] xxx" in _code(answer) and fake_slack.files == []
    assert "lacks the `files:write` scope" in _context(answer)


@pytest.mark.parametrize(("text", "expected"), [
    ("logs", "Which service? Known services: `backend`, `weather-monitor`, `website`."),
    ("logs backnd", "I don't know the service `backnd`. Did you mean `backend`?"),
    ("logs website", "The service `website` has no log source: add `logs: {group: <log group>}`"),
    ("logs backend --since 3x", "`--since` takes a duration from 1s to 7d, like 30s, 15m, 2h or 1d; not `3x`."),
    ("logs backend --since 30d", "`--since` takes a duration from 1s to 7d"),
    ("logs backend --tail -5", "`--tail` takes a number of lines from 1 to 5,000; not `-5`."),
    ("logs backend --tail 0", "`--tail` takes a number of lines from 1 to 5,000; not `0`."),
    ("logs backend --tial 5", "Unknown option `--tial`. Did you mean `--tail`?"),
    ("logs backend --grep", "`--grep` needs a value, e.g. `--grep ERROR`."),
    ("logs backend --tail 5 --tail 6", "`--tail` is given twice."),
    ("logs weather-monitor --container app", "`--container` picks a container of a pod, but `weather-monitor` "
                                             "reads CloudWatch Logs."),
    ("logs backend ERROR", "`/ops logs` takes one service, then options"),
])
def test_bad_input_gets_a_short_specific_answer(bot, text, expected):
    rt, ops = bot
    answer = ops(text, tag="bad")
    assert expected in answer["text"] and "Traceback" not in answer["text"]


def test_dead_cluster_expired_credentials_and_a_missing_role(bot, kube, aws, fake_slack):  # noqa: F811
    rt, ops = bot
    kube.seed_deployment()
    kube.seed_pod("web-h3-a", "prod", owner_rs="web-h3")
    kube.refuse_logs = 401
    assert "the log of pod web-h3-a: access denied by the cluster (401" in ops("logs backend", tag="k401")["text"]
    with aws.iam_auth():
        text = ops("logs weather-monitor", tag="expired")["text"]
    assert "log group /aws/lambda/weather-monitor-production: AWS credentials expired or not allowed" in text
    refused = ops("logs backend", user="U0MALLORY", tag="role")["text"]
    assert "needs the role `oncall`" in refused
    with rt.sessions() as s:
        outcomes = [a.outcome for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert outcomes == ["access_denied", "access_denied", "not_allowed"]


def test_a_cluster_that_does_not_answer(make_runtime, fake_slack, work_pool, tmp_path):
    rt = make_runtime(config(tmp_path, closed_port_url()), fake=fake_slack, real_clock=True)
    app = build_bolt_app(rt, rt.board, work_pool=work_pool)
    body = slash_body("logs backend", response_url=f"{fake_slack.url}/response/dead")
    ack = app.dispatch(BoltRequest(body=body, headers=signed_headers(body)))
    assert ack.status == 200 and "Working on `/ops logs backend`" in ack.body       # slow: acked first
    text = fake_slack.wait_for("/response/dead", timeout=15)[0].body["text"]
    assert "deployment/web in prod: cluster did not answer (connection refused)" in text
    assert "try again in a minute" in text
