"""`actions:` and the mechanisms that name an action: what `opsbot config check` refuses, each at its key path."""
from pathlib import Path

import pytest

from bot.config import ConfigError, parse_config
from bot.config.actions import ArgumentError
from bot.config.summary import summary

SCRIPT = {"name": "deploy", "cwd": "/srv/app", "command": ["node", "scripts/deploy.js", "--env={{args.env}}"],
          "args": {"env": {"choices": ["prod", "staging"], "required": True}, "reason": {"default": "chat"}}}
HTTP = {"name": "retrain", "secrets": {"CRON": {"secret": "CRON_SECRET"}},
        "http": {"url": "https://ml.example.com/cron/retrain", "headers": {"X-Cron-Secret": "{{secret.CRON}}"}}}


def _problems(raw):
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    return caught.value.problems


@pytest.mark.parametrize(("raw", "problem"), [
    ({"actions": [SCRIPT | {"http": HTTP["http"]}]},
     "actions[0].command: give either `command:` (an argv list, run without a shell) or `http:` (a request), not both"),
    ({"actions": [{"name": "nothing"}]}, "actions[0].command: give either `command:`"),
    ({"actions": [SCRIPT | {"cwd": None}]}, "actions[0].cwd: a command needs `cwd:`, the absolute path"),
    ({"actions": [SCRIPT | {"cwd": "srv/app"}]}, "actions[0].cwd: a command needs `cwd:`, the absolute path"),
    ({"actions": [SCRIPT | {"command": ["node", "--env={{args.envv}}"]}]},
     "actions[0].command[1]: names the undefined argument 'envv'; valid: env, reason; did you mean `env`?"),
    ({"actions": [SCRIPT | {"command": ["{{args.env}}"]}]},
     "actions[0].command[0]: the program is fixed: templates only in the arguments after it"),
    ({"actions": [SCRIPT | {"command": ["node", "--token={{secret.TOKEN}}"]}]},
     "actions[0].command[1]: secrets never go onto a command line"),
    ({"actions": [SCRIPT | {"command": ["node", "{{ env }}"]}]},
     "actions[0].command[1]: `{{ env }}` is not a template: use {{args.<name>}} or {{secret.<NAME>}}"),
    ({"actions": [HTTP | {"http": {"url": "https://ml.example.com/x", "headers": {"X": "{{secret.CRONN}}"}}}]},
     "actions[0].http.headers.X: names the undeclared secret 'CRONN'; valid: CRON; did you mean `CRON`?"),
    ({"actions": [HTTP | {"http": {"url": "https://{{args.host}}/x"}, "args": {"host": {}}}]},
     "actions[0].http.url: templates may not choose the host"),
    ({"actions": [HTTP | {"http": {"url": "ftp://x/y"}}]}, "actions[0].http.url: an http(s) URL"),
    ({"actions": [HTTP | {"dry_run": ["--dry-run"]}]}, "actions[0].dry_run: for an HTTP action, `dry_run:` is"),
    ({"actions": [SCRIPT | {"dry_run": {"query": {"dry": "1"}}}]},
     "actions[0].dry_run: for a command, `dry_run:` is a list of argv items"),
    ({"actions": [HTTP | {"env": {"A": "b"}}]}, "actions[0].env: `env:` is for command actions"),
    ({"actions": [SCRIPT | {"secrets": {"A": {"secret": "B"}}}]},
     "actions[0].secrets: a command gets secrets through `env:`"),
    ({"actions": [SCRIPT | {"args": {"Env": {}}}]}, "actions[0].args.Env: an argument name is lowercase"),
    ({"actions": [SCRIPT | {"args": {"env": {"choices": ["prod"], "default": "dev"}}}]},
     "actions[0].args.env: default=`dev` is not one of: prod"),
    ({"actions": [SCRIPT | {"args": {"env": {"pattern": "("}}}]}, "actions[0].args.env.pattern: not a regular"),
    ({"actions": [SCRIPT | {"args": {"env": {"required": True, "default": "prod"}}}]},
     "actions[0].args.env: a required argument with a default is never missing"),
    ({"actions": [SCRIPT | {"timeout": "7h"}]}, "actions[0].timeout: must be between 1s and 21600s"),
    ({"actions": [SCRIPT, SCRIPT]}, "actions[1].name: the action name 'deploy' is used twice"),
    ({"actions": [SCRIPT | {"roles": ["deployr"]}], "permissions": {"roles": {"deployer": ["U0ALICE"]}}},
     "actions[0].roles: names the undefined role 'deployr'; valid: deployer; did you mean `deployer`?"),
    ({"actions": [SCRIPT], "services": [{"name": "api", "rollback": {"action": "deplo"}}]},
     "services[0].rollback.action: no action named 'deplo'; valid: deploy; did you mean `deploy`?"),
    ({"actions": [SCRIPT], "services": [{"name": "api", "rollback": {"action": "deploy", "args": {"envv": "x"}}}]},
     "services[0].rollback.args.envv: `deploy` takes no argument 'envv'; valid: env, reason; did you mean `env`?"),
    ({"actions": [SCRIPT], "services": [{"name": "api", "rollback": {"action": "deploy", "args": {"env": "dev"}}}]},
     "services[0].rollback.args.env: env=`dev` is not one of: prod, staging"),
    ({"actions": [SCRIPT], "services": [{"name": "api", "rollback": {"action": "deploy"}}]},
     "services[0].rollback.args: `deploy` needs env: give it here"),
    ({"actions": [SCRIPT], "services": [{"name": "api", "rollback": {"action": "deploy", "to_arg": "version"}}]},
     "services[0].rollback.to_arg: `deploy` takes no argument 'version'"),
    ({"actions": [SCRIPT], "databases": [{"name": "db", "backup": {"action": "deploy", "args": {"env": "x"}}}]},
     "databases[0].backup.args.env: env=`x` is not one of: prod, staging"),
    ({"services": [{"name": "s", "health": {"url": "https://x/h", "headers": {"api key": "x"}}}]},
     "services[0].health.headers: not header names: api key"),
    ({"services": [{"name": "s", "health": {"url": "https://x/h", "headers": {"apikey": {"secret": "1X"}}}}]},
     "services[0].health.headers.apikey"),
    ({"checklists": {"m": {"checks": [{"check": "http"}]}}},
     "checklists.m.checks[0].http: give `service:` (a service from services) or `url:`"),
    ({"checklists": {"m": {"checks": [{"check": "http", "service": "s", "headers": {"a": "b"}}]}},
      "services": [{"name": "s"}]},
     "checklists.m.checks[0].http: headers, expect_status and timeout go with `url:`"),
])
def test_config_check_refuses_with_the_key_path(raw, problem):
    problems = _problems(raw)
    assert any(p.startswith(problem) for p in problems), problems


def test_a_valid_config_with_actions_and_mechanisms_is_summarised():
    config = parse_config({
        "permissions": {"roles": {"deployer": ["U0ALICE"]}},
        "actions": [SCRIPT | {"roles": ["deployer"], "dry_run": ["--dry-run"], "confirm": False}, HTTP],
        "services": [{"name": "api", "rollback": {"action": "deploy", "args": {"env": "prod"}},
                      "health": {"url": "https://api.example.com/h", "headers": {"apikey": {"secret": "ANON_KEY"}}}}],
        "databases": [{"name": "db", "backup": {"action": "deploy", "args": {"env": "staging"}}}],
        "checklists": {"m": {"checks": [{"check": "http", "url": "https://x.example.com/h", "headers": {"a": "b"}}]}},
    })
    text = summary(config, Path("ops.yaml"))
    assert "- api: health https://api.example.com/h (timeout 3s), rollback by action deploy" in text
    assert "- db: backup by action deploy" in text
    assert "- deploy: command node in /srv/app, timeout 300s, runs at once, roles deployer, has a dry-run form" in text
    assert "- retrain: http POST, timeout 30s, asks for confirmation, anyone who may /ops run" in text


@pytest.mark.parametrize(("given", "message"), [
    ({"env": "prod", "colour": "red"}, "`deploy` has no argument `colour`; it takes: env, reason"),
    ({}, "`deploy` needs env=…"),
    ({"env": "dev"}, "env=`dev` is not one of: prod, staging"),
    ({"env": "prod", "reason": "x" * 501}, "reason is 501 characters long; the limit is 500"),
])
def test_bind_names_the_first_problem(given, message):
    action = parse_config({"actions": [SCRIPT]}).actions[0]
    with pytest.raises(ArgumentError) as caught:
        action.bind(given)
    assert str(caught.value).startswith(message), str(caught.value)


def test_bind_fills_defaults():
    action = parse_config({"actions": [SCRIPT]}).actions[0]
    assert action.bind({"env": "prod"}) == {"env": "prod", "reason": "chat"}
