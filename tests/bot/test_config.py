from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config, parse_config
from bot.config.summary import summary

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_issue_shape_is_accepted():
    cfg = parse_config({
        "timezone": "UTC",
        "channels": {"default": "#oncall", "alerts": "#alerts"},
        "permissions": {"admins": ["U0ADMIN"], "roles": {"deployer": ["U0ALICE"], "dba": ["U0BOB"]},
                        "commands": {"rollback": ["deployer"], "backup": ["deployer", "dba"]}},
        "services": [{"name": "backend",
                      "health": {"url": "http://127.0.0.1:8080/health", "expect_status": 200, "timeout": "3s"}}],
    })
    assert cfg.services[0].health is not None
    assert cfg.services[0].health.timeout == timedelta(seconds=3)
    assert cfg.permissions.commands["backup"] == ("deployer", "dba")


@pytest.mark.parametrize("raw, path", [
    ({"services": [{"name": "backend", "health": {"url": "http://x/h", "expect_stauts": 200}}]},
     "services[0].health.expect_stauts"),
    ({"services": [{"name": "backend", "health": {"url": "http://x/h", "timeout": "3 parsecs"}}]},
     "services[0].health.timeout"),
    ({"channel": {"default": "#x"}}, "channel"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"services": [{"name": "Backend Service"}]}, "services[0].name"),
    ({"services": [{"name": "a"}], "databases": [{"name": "a"}]}, "databases[0].name"),
    ({"permissions": {"commands": {"rollback": ["deployer"]}}}, "permissions.commands.rollback"),
])
def test_errors_name_the_key_path(raw, path):
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert any(p.startswith(path + ":") for p in err.value.problems), err.value.problems


def test_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="OPSBOT_CONFIG"):
        load_config(tmp_path / "nope.yaml")


def test_yaml_syntax_error_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("services: [\n")
    with pytest.raises(ConfigError):
        load_config(bad)


@pytest.mark.parametrize("name", ["demo.yaml", "ops.example.yaml", "aws-and-kubernetes.yaml"])
def test_shipped_examples_are_valid(name):
    path = EXAMPLES / name
    if not path.exists():
        pytest.fail(f"{path} is missing")
    assert load_config(path).services


def test_a_checklist_name_must_be_typeable():
    with pytest.raises(ConfigError) as err:
        parse_config({"checklists": {"Morning Report": {"checks": [{"check": "manual", "text": "x"}]}}})
    assert "checklists.Morning Report: a name is lowercase letters" in str(err.value)


def test_scheduler_and_report_keys_parse_with_their_defaults():
    config = parse_config({"reports": {"weekly": {"schedule": "0 9 * * mon", "channel": "C0LEADS"}},
                           "scheduler": {"misfire_grace_time": "30m"}})
    assert config.reports["weekly"].kind == "weekly_incidents" and config.reports["weekly"].channel == "C0LEADS"
    assert config.scheduler.misfire_grace_time.total_seconds() == 1800
    assert config.scheduler.leader_poll.total_seconds() == 5 and config.scheduler.enabled
    with pytest.raises(ConfigError) as err:
        parse_config({"reports": {"weekly": {"schedule": "every monday"}}})
    assert "reports.weekly.schedule" in str(err.value)


@pytest.mark.parametrize(("raw", "problem"), [
    ({"checklists": {"m": {"timezone": "Mars/Base", "checks": [{"check": "manual", "text": "x"}]}}},
     "checklists.m.timezone: unknown time zone 'Mars/Base'"),
    ({"reports": {"w": {"timezone": "Nope/X"}}}, "reports.w.timezone: unknown time zone 'Nope/X'"),
    ({"scheduler": {"misfire_grace_time": "0s"}}, "scheduler.misfire_grace_time: must be between 60s"),
    ({"scheduler": {"leader_poll": "1h"}}, "scheduler.leader_poll: must be between"),
])
def test_scheduler_settings_that_would_break_or_skip_every_run_are_refused(raw, problem):
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert problem in str(err.value)


def _problems(raw):
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    return err.value.problems


ROTATION = {"name": "primary", "members": ["U0ALICE"], "start": "2026-11-02 09:00"}


def _escalation(*notify, rotations=(ROTATION,)):
    return {"oncall": {"rotations": list(rotations)},
            "alerts": {"escalation": {"P1": {"steps": [{"after": "5m", "notify": n} for n in notify]}}}}


@pytest.mark.parametrize(("raw", "problem"), [
    ({"permissions": {"commands": {"incdent": []}}},
     "permissions.commands.incdent: not an /ops command, so this would restrict nothing; valid: help, status, "
     "logs, incident, ack, alert, oncall, rollback, backup, scale, restart, dlq, run, checklist, report, "
     "maintenance, redrive; did you mean `incident`?"),
    ({"permissions": {"commands": {"confirm": []}}},
     "permissions.commands.confirm: `confirm` is checked as the command it confirms"),
    ({"permissions": {"roles": {"deployer": ["U0ALICE"]}, "commands": {"rollback": ["deployr"]}}},
     "permissions.commands.rollback: names the undefined role 'deployr'; valid: deployer; did you mean `deployer`?"),
    ({"permissions": {"roles": {"deployer": []}, "commands": {"rollback": ["deployer"]}}},
     "permissions.roles.deployer: a role needs at least one member"),
])
def test_a_permission_that_would_protect_nothing_is_refused(raw, problem):
    assert any(p.startswith(problem) for p in _problems(raw)), _problems(raw)


@pytest.mark.parametrize(("raw", "problem"), [
    (_escalation("oncall:secondary"), "alerts.escalation.P1.steps[0].notify[0]: no rotation named 'secondary'; "
                                      "valid: primary"),
    (_escalation("oncall:primry"), "alerts.escalation.P1.steps[0].notify[0]: no rotation named 'primry'; "
                                   "valid: primary; did you mean `primary`?"),
    (_escalation("U0LEAD", "oncall", rotations=()),
     "alerts.escalation.P1.steps[1].notify[0]: `oncall` needs a rotation under oncall.rotations; none is defined"),
    (_escalation([]), "alerts.escalation.P1.steps[0].notify: notifies nobody"),
])
def test_an_escalation_step_that_would_notify_nobody_is_refused(raw, problem):
    assert any(p.startswith(problem) for p in _problems(raw)), _problems(raw)


@pytest.mark.parametrize(("raw", "path"), [
    ({"permissions": {"admins": ["@alice"]}}, "permissions.admins[0]"),
    ({"permissions": {"roles": {"oncall": ["U0BOB", "alice"]}}}, "permissions.roles.oncall[1]"),
    ({"oncall": {"rotations": [{**ROTATION, "members": ["U0ALICE", "@bob"]}]}}, "oncall.rotations[0].members[1]"),
    (_escalation(["U0LEAD", "@alice"]), "alerts.escalation.P1.steps[0].notify[1]"),
    (_escalation("lead"), "alerts.escalation.P1.steps[0].notify[0]"),
    ({"permissions": {"admins": ["u0alice"]}}, "permissions.admins[0]"),
])
def test_a_display_name_where_a_slack_user_id_belongs_is_refused(raw, path):
    problems = _problems(raw)
    assert any(p.startswith(f"{path}: ") and "is not" in p and "a Slack user ID" in p and "U0123ABCD" in p
               for p in problems), problems


def test_slack_user_ids_of_both_kinds_are_accepted():
    cfg = parse_config({"permissions": {"admins": ["U0ADMIN", "W012ABCDEF"], "roles": {"oncall": ["U01ALICE001"]}},
                        **_escalation(["oncall", "oncall:primary", "W0LEAD"])})
    assert cfg.permissions.admins == ("U0ADMIN", "W012ABCDEF")
    assert cfg.alerts.escalation["P1"].steps[0].notify == ("oncall", "oncall:primary", "W0LEAD")


@pytest.mark.parametrize(("raw", "problem"), [
    ({"alerts": {"incident_severities": ["P1", "P9"]}},
     "alerts.incident_severities[1]: 'P9' is not a severity; valid: P1, P2, P3, P4"),
    ({"alerts": {"default_severity": "critical"}}, "alerts.default_severity: 'critical' is not a severity"),
    ({"alerts": {"escalation": {"P0": {"steps": [{"after": "5m", "notify": "U0LEAD"}]}}}},
     "alerts.escalation.P0: escalation policies are per severity; valid: P1, P2, P3, P4"),
    ({"alerts": {"routes": [{"match": {"severity": "critical"}, "channel": "#x"}]}},
     "alerts.routes[0].match.severity: routes compare the severity after mapping, so 'critical' never matches"),
    ({"alerts": {"routes": [{"match": {"source": "cloudwatch"}, "channel": "#x"}]}},
     "alerts.routes[0].match.source: 'cloudwatch' is not a receiver, so it never matches; valid: sns"),
    ({"oncall": {"rotations": [ROTATION, ROTATION]}},
     "oncall.rotations[1].name: the rotation name 'primary' is used twice"),
])
def test_a_severity_route_or_rotation_that_could_never_apply_is_refused(raw, problem):
    assert any(p.startswith(problem) for p in _problems(raw)), _problems(raw)


@pytest.mark.parametrize(("raw", "path", "message"), [
    ({"alerts": {"channel_interval": "0s"}}, "alerts.channel_interval", "must be longer than 0s"),
    ({"alerts": {"ack_timeout": 0}}, "alerts.ack_timeout", "must be longer than 0s"),
    ({"alerts": {"auto_resolve_after": -60}}, "alerts.auto_resolve_after", "a duration must not be negative"),
    ({"alerts": {"escalation": {"P1": {"steps": [{"after": -1, "notify": "U0LEAD"}]}}}},
     "alerts.escalation.P1.steps[0].after", "a duration must not be negative"),
    ({"databases": [{"name": "db", "max_backup_age": "0h"}]}, "databases[0].max_backup_age", "must be longer than 0s"),
    ({"services": [{"name": "web", "kubernetes": {"deployment": "web", "rollout_timeout": 0}}],
      "integrations": {"kubernetes": {}}}, "services[0].kubernetes.rollout_timeout", "must be longer than 0s"),
    ({"databases": [{"name": "db"}], "checklists": {"m": {"checks": [
        {"check": "backup_age", "database": "db", "max_age": "0s"}]}}},
     "checklists.m.checks[0].backup_age.max_age", "must be longer than 0s"),
])
def test_a_zero_or_negative_duration_is_refused_where_only_a_positive_one_makes_sense(raw, path, message):
    assert f"{path}: {message}" in _problems(raw)


def test_an_escalation_step_due_at_once_is_fine():
    cfg = parse_config({"alerts": {"escalation": {"P1": {"steps": [{"after": 0, "notify": "U0LEAD"}]}}}})
    assert cfg.alerts.escalation["P1"].steps[0].after == timedelta(0)


def test_every_cross_reference_problem_is_reported_at_once_each_at_its_own_key_path():
    problems = _problems({"services": [{"name": "a"}, {"name": "a"}],
                          "checklists": {"m": {"checks": [{"check": "http", "service": "nope"}]}},
                          **_escalation("oncall:nope")})
    assert problems == ["services[1].name: the name 'a' is used twice (services, databases and queues share names)",
                        "checklists.m.checks[0]: no service named 'nope'",
                        "alerts.escalation.P1.steps[0].notify[0]: no rotation named 'nope'; valid: primary"]


QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq"


def test_a_dead_letter_queue_needs_aws_and_a_queue_url():
    assert _problems({"queues": [{"name": "orders-dlq", "url": QUEUE_URL}]}) == [
        "integrations.aws: a service, database or queue uses AWS: add `integrations: {aws: {...}}` (may be empty)"]
    problems = _problems({"integrations": {"aws": {}}, "queues": [
        {"name": "orders-dlq", "url": "https://sqs.eu-west-1.amazonaws.com/orders-dlq",
         "source_url": "arn:aws:sqs:eu-west-1:123456789012:orders"}]})
    assert problems[0].startswith("queues[0].url: not a queue URL; SQS shows it as https://sqs.<region>.amazonaws.com")
    assert problems[1].startswith("queues[0].source_url: ")


def test_queues_share_names_with_services_and_redrive_is_a_permission_key():
    problems = _problems({"integrations": {"aws": {}}, "services": [{"name": "orders-dlq"}],
                          "queues": [{"name": "orders-dlq", "url": QUEUE_URL}]})
    assert problems == ["queues[0].name: the name 'orders-dlq' is used twice (services, databases and queues share "
                        "names)"]
    cfg = parse_config({"integrations": {"aws": {}}, "queues": [{"name": "orders-dlq", "url": QUEUE_URL}],
                        "permissions": {"roles": {"ops": ["U0ALICE"]}, "commands": {"dlq": [], "redrive": ["ops"]}}})
    assert cfg.queues[0].redrive_timeout == timedelta(minutes=30) and cfg.queues[0].source_url is None
    assert "  queues       1\n    - orders-dlq: orders-dlq -> found in AWS" in summary(cfg, Path("ops.yaml"))


def test_a_key_written_twice_is_refused_with_both_lines(tmp_path):
    from bot.config import ConfigError
    from bot.config.ops import load_config

    path = tmp_path / "ops.yaml"
    path.write_text("services:\n  - name: a\nincidents: {channels: {auto: [P1]}}\nincidents: {}\n")
    with pytest.raises(ConfigError, match=r"line 4: the key 'incidents' is written twice \(first on line 3\)"):
        load_config(path)
