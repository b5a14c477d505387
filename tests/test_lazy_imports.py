"""Only what the config names is loaded: a bot without AWS or Kubernetes never imports boto3 or the
kubernetes client (each costs tens of MB of resident memory; bench/idle_rss.py measures it)."""
from __future__ import annotations

import json
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
from tests.fakes.board import RecordingBoard
rt = build_runtime(Settings.from_env({"DATABASE_URL": sys.argv[2]}), load_config(Path(sys.argv[1])),
                   board=lambda sessions, clock: RecordingBoard())
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def loaded(tmp_path: Path, config: dict[str, object]) -> set[str]:
    path = tmp_path / "ops.yaml"
    path.write_text(yaml.safe_dump(config))
    out = subprocess.run([sys.executable, "-c", PROBE, str(path), f"sqlite:///{tmp_path / 'lazy.db'}"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
    return set(json.loads(out.stdout))


def test_the_demo_config_loads_no_cloud_sdk(tmp_path):
    demo = yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text())
    assert not loaded(tmp_path, demo) & {"boto3", "botocore", "kubernetes"}


@pytest.mark.parametrize(("config", "wanted", "unwanted"), [
    ({"integrations": {"aws": {"region": "us-east-1"}},
      "services": [{"name": "fn", "lambda": {"function": "f"}}]}, "boto3", "kubernetes"),
    ({"integrations": {"kubernetes": {"kubeconfig": "/nonexistent"}},
      "services": [{"name": "web", "kubernetes": {"deployment": "web"}}]}, "kubernetes", "boto3"),
])
def test_an_sdk_is_loaded_only_when_the_config_names_it(tmp_path, config, wanted, unwanted):
    modules = loaded(tmp_path, config)
    assert wanted in modules and unwanted not in modules
