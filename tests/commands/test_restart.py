"""`/ops restart`: short answers for bad input, Lambda said to be not restartable, and a dry run that changes
nothing on the Kubernetes emulator. (The confirmed path through Slack is in tests/bot/test_slack_restart.py.)"""
import pytest
from sqlalchemy import select

from bot.storage.models import AuditEntry, PendingAction
from tests.fakes.kube import kube, kubeconfig  # noqa: F401  (fixture)

SERVICES = [{"name": "backend", "kubernetes": {"deployment": "web", "namespace": "prod"}},
            {"name": "weather-monitor", "lambda": {"function": "weather-monitor-production"}},
            {"name": "docs-site", "health": {"url": "http://127.0.0.1:9/health"}}]


def config(tmp_path, server):
    return {"integrations": {"aws": {"region": "us-east-1"},
                             "kubernetes": {"kubeconfig": kubeconfig(tmp_path, server), "context": "prod",
                                            "timeout": "2s"}},
            "services": SERVICES}


@pytest.mark.parametrize(("text", "expected", "outcome"), [
    ("restart", "Which service?\nUsage: `/ops restart <service> [--dry-run]`", "usage"),
    ("restart backend now", "Name one service; only `--dry-run` may follow it.", "usage"),
    ("restart backedn", "I don't know the service `backedn`. Did you mean `backend`? Can restart: `backend`.",
     "not_found"),
    ("restart docs-site", "`docs-site` has no restart mechanism configured (add `kubernetes:`, `beanstalk:` or "
                          "`restart: {action: …}` to the service). Can restart: `backend`.", "not_found"),
    ("restart weather-monitor", "`weather-monitor` runs on Lambda: Lambda functions have no servers to restart; "
                                "every cold start loads the function afresh. To undo a bad release: "
                                "`/ops rollback weather-monitor`.", "not_possible"),
])
def test_bad_input_gets_a_short_answer_and_an_audit_row(make_runtime, run_ops, tmp_path, text, expected, outcome):
    rt = make_runtime(config(tmp_path, "http://127.0.0.1:9"))
    reply = run_ops(rt, text)
    assert expected in reply.text and reply.ephemeral
    with rt.sessions() as s:
        row = s.scalars(select(AuditEntry)).one()
        assert (row.subcommand, row.outcome) == ("restart", outcome)
        assert s.scalars(select(PendingAction)).all() == []


def test_dry_run_shows_the_plan_and_changes_nothing(make_runtime, run_ops, kube, tmp_path):  # noqa: F811
    kube.seed_deployment()
    rt = make_runtime(config(tmp_path, kube.url))
    reply = run_ops(rt, "restart backend --dry-run")
    assert reply.blocks[0].text.startswith(":mag: *Dry run: restart backend* — nothing was changed.")
    assert reply.blocks[0].fields[1] == ("*Change*\n3/3 ready (web:3), last restarted never  →  every pod "
                                         "replaced, as kubectl rollout restart does (same image)")
    assert len(kube.history("apps/v1/deployments", "prod", "web")) == 1
    with rt.sessions() as s:
        assert s.scalars(select(PendingAction)).all() == []


def test_restart_is_a_permission_key(make_runtime, run_ops, tmp_path):
    cfg = config(tmp_path, "http://127.0.0.1:9") | {
        "permissions": {"roles": {"deployer": ["U0ALICE"]}, "commands": {"restart": ["deployer"]}}}
    rt = make_runtime(cfg)
    # anyone may ask for the plan (this one cannot be made: the cluster is down); the role is checked on Confirm
    assert "cluster did not answer" in run_ops(rt, "restart backend", user="U0CAROL").text
