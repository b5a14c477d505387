from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config, parse_config

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
    ({"services": [{"name": "a"}], "databases": [{"name": "a"}]}, "(top level)"),
    ({"permissions": {"commands": {"rollback": ["deployer"]}}}, "permissions"),
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
