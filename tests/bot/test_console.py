"""The console transport: the same commands, a card's buttons as numbers, and a confirmed operation's lines
printed in order after its answer, before the next prompt."""
import io

from bot.app import build_console
from bot.config import parse_config
from bot.settings import Settings
from integrations.base import Integrations
from tests.fakes.targets import FakeDeployment

CONFIG = {"services": [{"name": "backend"}],
          "permissions": {"roles": {"deployer": ["U0ALICE"]}, "commands": {"rollback": ["deployer"]}}}


def test_a_rollback_confirmed_by_pressing_its_button(db_url, clock):
    out, backend = io.StringIO(), FakeDeployment("backend")
    console = build_console(Settings.from_env({"DATABASE_URL": db_url}), parse_config(CONFIG), user_id="U0ALICE",
                            out=out, clock=clock, integrations=Integrations(rollback_targets={"backend": backend}))
    try:
        console.run(["/ops rollback backend", "1", "1", "quit", "/ops help"], prompt=False)
    finally:
        console.rt.engine.dispose()
    printed = out.getvalue()
    assert "[1] Confirm rollback" in printed and "[2] Cancel" in printed
    steps = ("Roll back backend?", "▶️  Confirmed: roll back", "running — confirmed by @U0ALICE",
             "working on deployment/backend", "Rollback of backend done")
    order = [printed.index(step) for step in steps]
    assert order == sorted(order), printed
    assert "[1] Confirm rollback is no longer on its card" in printed     # the second press confirms nothing
    assert "opsbot — what I can do" not in printed             # nothing after quit
    assert len(backend.applied) == 1
