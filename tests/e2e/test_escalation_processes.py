"""Two bot processes on one PostgreSQL take each escalation step once between them."""
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from bot.alerts.model import AlertEvent
from bot.config import parse_config
from bot.settings import Settings
from tests.alerts.workers import slack_runtime
from tests.e2e.conftest import ROOT

CONFIG = {"channels": {"alerts": "C0ALERTS"},
          "alerts": {"escalation": {"P1": {"steps": [{"after": "5m", "notify": ["U0LEAD"]}]}}}}
FIRED = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def race(postgres_url, fake_slack, config, at):
    """Two escalate_once.py processes released together at `at`; what each took."""
    at_text = at.isoformat()
    procs = [subprocess.Popen([sys.executable, str(ROOT / "tests/e2e/escalate_once.py"), postgres_url, str(config),
                               at_text, fake_slack.api_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=ROOT) for _ in range(2)]
    for p in procs:                                                 # release both at once: they race
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    return [json.loads(out.strip().splitlines()[-1]) for out in outputs]


@pytest.mark.postgres
def test_two_processes_never_take_the_same_incident_step(postgres_url, fake_slack, tmp_path):
    """Incidents opened by alerts and by hand, acknowledged, past `unresolved_after`: one step each, in total."""
    from tests.conftest import _truncate

    _truncate(postgres_url)
    raw = {"channels": {"alerts": "C0ALERTS", "default": "C0ONCALL"},
           "alerts": {"escalation": {"P1": {"steps": [{"unresolved_after": "1h", "notify": ["U0LEAD"]}]}}}}
    rt = slack_runtime(Settings.from_env({"DATABASE_URL": postgres_url}), parse_config(raw), clock=lambda: FIRED)
    rt.alerts.ingest([AlertEvent(source="webhook", dedup_key=f"k{i}", title=f"P1 number {i}", status="firing",
                                 severity="critical") for i in range(10)])            # incidents 1-10
    for i in range(10):
        rt.incidents.open(title=f"by hand {i}", severity="P1", opened_by="U0CAROL")    # incidents 11-20
    for incident_id in range(1, 21):
        rt.incidents.acknowledge(incident_id=incident_id, user="U0BOB")
    rt.engine.dispose()
    config = tmp_path / "ops.yaml"
    config.write_text(yaml.safe_dump(raw))
    taken = race(postgres_url, fake_slack, config, FIRED + timedelta(hours=1))
    assert sorted(taken[0] + taken[1]) == sorted(f"incident:{i}" for i in range(1, 21))   # each once, in total
    dms = fake_slack.messages(fake_slack.im("U0LEAD"))
    assert len(dms) == 20 and len({m.text for m in dms}) == 20


@pytest.mark.postgres
def test_two_processes_never_take_the_same_step(postgres_url, fake_slack, tmp_path):
    from tests.conftest import _truncate

    _truncate(postgres_url)
    rt = slack_runtime(Settings.from_env({"DATABASE_URL": postgres_url}), parse_config(CONFIG), clock=lambda: FIRED)
    rt.alerts.ingest([AlertEvent(source="webhook", dedup_key=f"k{i}", title=f"P1 number {i}", status="firing",
                           severity="critical") for i in range(30)])
    rt.engine.dispose()
    config = tmp_path / "ops.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    taken = race(postgres_url, fake_slack, config, FIRED + timedelta(minutes=5))
    assert sorted(taken[0] + taken[1]) == list(range(1, 31))       # every alert escalated, none twice
    dms = fake_slack.messages(fake_slack.im("U0LEAD"))
    assert len(dms) == 30 and len({m.text for m in dms}) == 30                # one direct message per alert
