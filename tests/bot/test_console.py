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


def test_a_cards_buttons_keep_their_numbers_when_it_is_redrawn():
    from bot.console import Choices, to_terminal
    from bot.reply import ActionId, Actions, Button, CardKind, CardRef, Reply

    def buttons(*names: str) -> tuple[Button, ...]:
        return tuple(Button(n.title(), ActionId(f"alert.{n}"), "7") for n in names)

    choices, card = Choices(), CardRef(CardKind.ALERT, "7")
    assert choices.number(card, buttons("ack", "resolve")) == [1, 2]
    assert choices.number(None, Reply("x", blocks=(Actions(buttons("silence")),)).buttons()) == [3]
    assert choices.number(card, buttons("resolve", "escalate")) == [2, 4]      # redrawn: Ack left, Escalate came
    stale = choices.pick(1)
    assert isinstance(stale, str) and "[1] Ack is no longer on its card" in stale
    assert choices.pick(2) == Button("Resolve", ActionId.ALERT_RESOLVE, "7")
    assert "There is no choice 9" in str(choices.pick(9))
    assert to_terminal(":bar_chart: <!here> see <https://x.example/r|Runbook>") == "📊 @here see Runbook (https://x.example/r)"


def test_demo_is_no_command_outside_the_demo():
    import commands

    assert commands.find("demo") is None and "demo" not in [c.name for c in commands.visible()]
