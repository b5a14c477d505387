"""Four-eyes approval in the command flow: how many approvals, who counts, the replies and audit rows, the
count under a race (both databases), the `approvals` config key, and the migration that adds it."""
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from bot.config import ConfigError, parse_config
from bot.config.summary import summary
from bot.errors import ConflictError
from bot.reply import CardKind, CardRef
from bot.storage.models import ActionApproval, PendingAction
from commands import operations
from commands.base import CommandContext
from integrations.base import Integrations
from tests.bot.test_migrations import empty_db, upgrade_to  # noqa: F401  (fixture)
from tests.fakes.targets import FakeDeployment

PEOPLE = ["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0ERIN", "U0FRANK"]
CONFIG = {
    "permissions": {"roles": {"sre": PEOPLE}, "commands": {"rollback": ["sre"], "scale": ["sre"],
                                                           "backup": ["sre"]}},
    "services": [{"name": "backend", "approvals": 3}, {"name": "frontend"}],
    "databases": [{"name": "prod-db", "approvals": 2}],
}


@pytest.fixture
def ops(make_runtime):
    backend, frontend, db = FakeDeployment("backend"), FakeDeployment("frontend"), FakeDeployment("prod-db")
    integ = Integrations(rollback_targets={"backend": backend, "frontend": frontend},
                         scale_targets={"frontend": frontend}, backup_targets={"prod-db": db})
    return make_runtime(CONFIG, integrations=integ), backend, frontend, db


def _row(rt):
    with rt.sessions() as s:
        return s.scalars(select(PendingAction)).one()


def _approvals(rt):
    with rt.sessions() as s:
        return [(a.user_id, a.at) for a in s.scalars(select(ActionApproval).order_by(ActionApproval.id))]


def test_three_approvals_take_three_different_people_and_the_last_runs_it(ops, run_ops, clock):
    rt, backend, _, _ = ops
    proposal = run_ops(rt, "rollback backend", user="U0CAROL")
    assert "Four-eyes: 3 different people must confirm (admins or `sre`)" in proposal.blocks[-1].text
    action_id = proposal.card.key

    first = run_ops(rt, f"confirm {action_id}", user="U0CAROL")
    assert (first.outcome, first.detail, first.ephemeral) == ("approved", "approval 1 of 3", False)
    assert first.text == (":ballot_box_with_check: <@U0CAROL> approved the rollback of *backend* (1 of 3); it needs "
                          "2 more from admins or `sre` (not <@U0CAROL>, who asked) before it runs.")
    clock.advance(minutes=1)
    second = run_ops(rt, f"confirm {action_id}", user="U0ALICE")
    assert second.outcome == "approved" and "(2 of 3); it needs one more" in second.text
    assert "Approved by <@U0CAROL>, <@U0ALICE> (2 of 3)" in second.redraw[0].reply.blocks[-1].text
    assert backend.applied == [] and _row(rt).state == "awaiting_confirmation"

    last = run_ops(rt, f"confirm {action_id}", user="U0BOB")
    assert last.outcome == "confirmed" and last.text.startswith(":arrow_forward: Confirmed: roll back")
    assert len(backend.applied) == 1 and (_row(rt).state, _row(rt).decided_by) == ("succeeded", "U0BOB")
    assert [u for u, _ in _approvals(rt)] == ["U0CAROL", "U0ALICE", "U0BOB"]
    assert _approvals(rt)[1][1] == clock.now and _approvals(rt)[0][1] < clock.now
    card = rt.board.cards[CardRef(CardKind.ACTION, action_id)]
    assert "approved by <@U0CAROL>, <@U0ALICE>, <@U0BOB>" in card.blocks[-1].text


def test_the_requester_may_not_be_the_third_either(ops, run_ops):
    rt, backend, _, _ = ops
    action_id = run_ops(rt, "rollback backend", user="U0CAROL").card.key
    run_ops(rt, f"confirm {action_id}", user="U0ALICE")
    run_ops(rt, f"confirm {action_id}", user="U0BOB")
    refused = run_ops(rt, f"confirm {action_id}", user="U0CAROL")
    assert refused.outcome == "not_allowed" and "can't be its third approver" in refused.text
    assert backend.applied == [] and len(_approvals(rt)) == 2


def test_a_database_takes_its_own_approvals(ops, run_ops):
    rt, _, _, db = ops
    action_id = run_ops(rt, "backup prod-db", user="U0DAVE").card.key
    assert run_ops(rt, f"confirm {action_id}", user="U0DAVE").outcome == "approved"
    assert run_ops(rt, f"confirm {action_id}", user="U0ERIN").outcome == "confirmed"
    assert len(db.applied) == 1


def test_without_approvals_one_confirm_runs_it_as_before(ops, run_ops):
    rt, _, frontend, _ = ops
    proposal = run_ops(rt, "scale frontend 5", user="U0CAROL")
    assert "Only admins or `sre` may confirm" in proposal.blocks[-1].text
    done = run_ops(rt, f"confirm {proposal.card.key}", user="U0CAROL")
    assert done.outcome == "confirmed" and frontend.replicas == 5
    row = _row(rt)
    assert (row.approvals_required, row.decided_by) == (1, "U0CAROL") and [u for u, _ in _approvals(rt)] == ["U0CAROL"]
    assert "confirmed by <@U0CAROL>" in rt.board.cards[CardRef(CardKind.ACTION, proposal.card.key)].blocks[-1].text


def test_a_command_can_ask_for_its_own_number_of_approvals(ops):
    """What a named action with `approvals:` does: offer(..., approvals=N) wins over the service's setting."""
    rt, _, frontend, _ = ops
    ctx = CommandContext(rt=rt, user_id="U0CAROL", channel_id="C0ONCALL")
    reply = operations.offer(ctx, "scale", "frontend", targets={"frontend": frontend}, what="service", dry=False,
                             make_plan=lambda target: target.plan_scale(replicas=4), approvals=2)
    assert "Four-eyes: 2 different people" in reply.blocks[-1].text and _row(rt).approvals_required == 2
    stranger = CommandContext(rt=rt, user_id="U0ZOE", channel_id="C0ONCALL")      # may ask, may not confirm
    reply = operations.offer(stranger, "backup", "prod-db", targets={"prod-db": FakeDeployment("prod-db")},
                             what="database", dry=False, make_plan=lambda target: target.plan_backup())
    assert reply.blocks[-1].text.startswith("Four-eyes: 2 different people must confirm (admins or `sre`) · expires")


def test_a_cancelled_request_takes_no_more_approvals(ops, run_ops):
    rt, backend, _, _ = ops
    action_id = run_ops(rt, "rollback backend", user="U0CAROL").card.key
    run_ops(rt, f"confirm {action_id}", user="U0ALICE")
    assert run_ops(rt, f"cancel {action_id}", user="U0CAROL").outcome == "cancelled"
    late = run_ops(rt, f"confirm {action_id}", user="U0BOB")
    assert late.outcome == "conflict" and "cancelled" in late.text and backend.applied == []


def test_six_people_confirming_at_once_count_exactly_and_run_it_once(ops):
    """Nobody has approved yet and six people click at once: every approval is counted in turn (none is lost
    to a race), the second one runs it, and the other four are told it was decided."""
    rt, _, _, db = ops
    ctx = CommandContext(rt=rt, user_id="U0ZOE", channel_id="C0ONCALL")     # asks; may not confirm
    operations.offer(ctx, "backup", "prod-db", targets={"prod-db": db}, what="database", dry=False,
                     make_plan=lambda target: target.plan_backup())
    action_id = _row(rt).id
    start, results = threading.Barrier(len(PEOPLE)), {}

    def confirm(user):
        start.wait(5)
        try:
            results[user] = rt.operations.confirm(action_id, user=user).state.value
        except ConflictError as exc:
            results[user] = str(exc)
        except Exception as exc:          # shown in the assertion below rather than lost with the thread
            results[user] = repr(exc)

    threads = [threading.Thread(target=confirm, args=(user,)) for user in PEOPLE]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert rt.operations.runner.idle(timeout=30)
    states = sorted(results.values())
    assert states.count("running") == 1 and states.count("awaiting_confirmation") == 1, results
    assert sum("already" in r for r in states) == 4, results
    assert len(db.applied) == 1 and len(_approvals(rt)) == 2
    assert _row(rt).decided_by == _approvals(rt)[1][0]


@pytest.mark.parametrize("value, problem", [
    (0, "services[0].approvals: Input should be greater than or equal to 1"),
    (4, "services[0].approvals: Input should be less than or equal to 3"),
    (True, "services[0].approvals: Input should be a valid integer"),
    ("2", "services[0].approvals: Input should be a valid integer"),
])
def test_approvals_must_be_one_to_three(value, problem):
    with pytest.raises(ConfigError) as err:
        parse_config({"services": [{"name": "web", "approvals": value}]})
    assert problem in err.value.problems


def test_more_approvals_than_people_who_may_confirm_is_refused():
    raw = {"integrations": {"kubernetes": {}},
           "permissions": {"roles": {"solo": ["U0ALICE"]}, "commands": {"rollback": ["solo"], "backup": []}},
           "services": [{"name": "web", "kubernetes": {"deployment": "web"}, "approvals": 2}],
           "databases": [{"name": "db", "kubernetes_cronjob": {"name": "b"}, "approvals": 2}]}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert err.value.problems == [
        "services[0].approvals: 2 different people must confirm a rollback of 'web', but only 1 may "
        "(permissions.commands.rollback and admins)",
        "databases[0].approvals: 2 different people must confirm a backup of 'db', but only 0 may "
        "(permissions.commands.backup and admins)"]
    raw["permissions"]["admins"] = ["U0BOB", "U0CAROL"]          # admins may confirm too
    shown = summary(parse_config(raw), Path("ops.yaml"))          # what `opsbot config check` prints
    assert "- web: deployment default/web, 2 approvals (four-eyes)" in shown
    assert "- db: cronjob default/b, 2 approvals (four-eyes), max backup age 26h" in shown
    del raw["permissions"]["commands"]                          # open to everyone in the channel
    del raw["permissions"]["admins"]
    assert parse_config(raw).databases[0].approvals == 2


def test_0012_keeps_old_requests_at_one_approval_and_one_row_per_person(empty_db):  # noqa: F811
    engine = create_engine(empty_db)
    try:
        upgrade_to(engine, "0011_post_once")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO pending_actions (id, kind, subject, plan, state, requested_by, "
                              "requested_at, expires_at) VALUES ('old', 'scale', 'web', '{}', "
                              "'awaiting_confirmation', 'U1', '2026-11-20 10:00:00+00', '2026-11-20 10:15:00+00')"))
        upgrade_to(engine, "0012_approvals")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT approvals_required FROM pending_actions")).scalar() == 1
            insert = text("INSERT INTO action_approvals (action_id, user_id, at) "
                          "VALUES ('old', 'U2', '2026-11-20 10:01:00+00')")
            conn.execute(insert)
        with pytest.raises(Exception, match="(?i)unique"), engine.begin() as conn:
            conn.execute(insert)
    finally:
        engine.dispose()
