"""Only what is used is loaded: building the bot imports neither boto3 nor the kubernetes client (each costs
tens of MB of resident memory; bench/idle_rss.py measures it); the first question to AWS or Kubernetes
imports that SDK only; a config that names neither never loads them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]
PROBE = """
import json, sys
from pathlib import Path
from bot.app import build_runtime
from bot.config import load_config
from bot.settings import Settings
from integrations.status import check_services
from tests.fakes.board import RecordingBoard

def loaded():
    return sorted({m.split(".")[0] for m in sys.modules} & {"boto3", "botocore", "kubernetes", "alembic", "redis"})

rt = build_runtime(Settings.from_env({"DATABASE_URL": sys.argv[2]}), load_config(Path(sys.argv[1])),
                   board=lambda sessions, clock: RecordingBoard())
built = loaded()
check_services(rt.integrations.status_sources)
if sys.argv[3:] == ["checks"]:
    check_services({key: (source,) for key, source in rt.integrations.check_sources.items()})
print(json.dumps({"built": built, "asked": loaded()}))
"""
CLOSED = {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
          "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent", "PATH": "/usr/bin:/bin"}


def modules(tmp_path: Path, config: dict[str, object], *, checks: bool = False) -> dict[str, list[str]]:
    path = tmp_path / "ops.yaml"
    path.write_text(yaml.safe_dump(config))
    db = tmp_path / "lazy.db"
    subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], env={"DATABASE_URL": f"sqlite:///{db}", **CLOSED},
                   cwd=ROOT, check=True, capture_output=True, timeout=60)
    env = CLOSED | ({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {})
    out = subprocess.run([sys.executable, "-c", PROBE, str(path), f"sqlite:///{db}", *(["checks"] if checks else [])],
                         env=env, capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
    result: dict[str, list[str]] = json.loads(out.stdout)
    return result


def test_the_demo_config_loads_no_cloud_sdk_and_no_migration_tool(tmp_path):
    demo = yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text())
    # alembic neither: the database is at head. The demo's backend runs on its emulated Kubernetes API, so the
    # kubernetes client comes when status is asked for, not before; boto3 never.
    assert modules(tmp_path, demo) == {"built": [], "asked": ["kubernetes"]}


@pytest.mark.parametrize(("config", "asked"), [
    ({"integrations": {"aws": {"region": "us-east-1", "connect_timeout": "100ms", "read_timeout": "100ms"}},
      "services": [{"name": "fn", "lambda": {"function": "f"}}]}, ["boto3", "botocore"]),
    ({"integrations": {"kubernetes": {"kubeconfig": "/nonexistent"}},
      "services": [{"name": "web", "kubernetes": {"deployment": "web"}}]}, ["kubernetes"]),
])
def test_an_sdk_is_loaded_on_its_first_use_only(tmp_path, config, asked):
    assert modules(tmp_path, config) == {"built": [], "asked": asked}


def test_redis_py_is_loaded_only_when_a_redis_check_runs(tmp_path):
    config = {"checklists": {"cache": {"checks": [
        {"check": "redis", "url": {"secret": "OPSBOT_UNSET_REDIS_URL"}},
        {"check": "postgres_activity", "url_env": "OPSBOT_UNSET_DATABASE_URL"}]}}}
    assert modules(tmp_path, config) == {"built": [], "asked": []}
    assert modules(tmp_path, config, checks=True) == {"built": [], "asked": ["redis"]}
