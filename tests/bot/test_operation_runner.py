"""The operation runner's leases, on an injected clock: renewed while an operation runs here, reaped (marked
interrupted, audited, the card redrawn) when the replica running it is gone, never re-applied."""
from sqlalchemy import select

from bot.reply import CardKind, CardRef
from bot.storage.models import AuditEntry, PendingAction
from integrations.base import Integrations
from tests.fakes.targets import FakeDeployment
from tests.waiting import wait_until

CONFIG = {"operations": {"lease": "30s"}, "services": [{"name": "backend"}]}


def started(make_runtime, run_ops, *, hold: bool):
    backend = FakeDeployment("backend")
    rt = make_runtime(CONFIG, integrations=Integrations(rollback_targets={"backend": backend}))
    action_id = run_ops(rt, "rollback backend").card.key
    if hold:
        backend.release.clear()
    rt.operations.confirm(action_id, user="U0ALICE")
    return rt, backend, action_id


def state(rt, action_id):
    with rt.sessions() as s:
        row = s.get(PendingAction, action_id)
        return row.state, row.running_until


def test_a_running_operation_keeps_renewing_its_lease(make_runtime, run_ops, clock):
    rt, backend, action_id = started(make_runtime, run_ops, hold=True)
    try:
        clock.advance(seconds=25)
        assert rt.operations.runner.renew() == 1
        assert state(rt, action_id) == ("running", clock.now + rt.config.operations.lease)
        clock.advance(seconds=25)
        assert rt.operations.runner.reap() == []              # its lease was renewed: still ours, still running
    finally:
        backend.release.set()
    assert rt.operations.runner.idle(timeout=10) and state(rt, action_id)[0] == "succeeded"


def test_a_dead_replicas_operation_is_marked_interrupted_once_and_never_reapplied(make_runtime, run_ops, clock):
    backend = FakeDeployment("backend")
    dead = make_runtime(CONFIG, integrations=Integrations(rollback_targets={"backend": backend}))
    action_id = run_ops(dead, "rollback backend").card.key
    with dead.sessions() as s, s.begin():                       # claimed by a replica that then died
        row = s.get(PendingAction, action_id)
        row.state, row.decided_by, row.running_until = "running", "U0ALICE", clock.now + dead.config.operations.lease
    survivor = make_runtime(CONFIG, integrations=Integrations(rollback_targets={"backend": backend}))
    assert survivor.operations.runner.reap() == []              # its lease has not run out yet
    clock.advance(seconds=31)
    [gone] = survivor.operations.runner.reap()
    assert gone.id == action_id and survivor.operations.runner.reap() == []
    assert state(survivor, action_id) == ("interrupted", None) and backend.applied == []
    card = survivor.board.cards[CardRef(CardKind.ACTION, action_id)]
    assert "interrupted* — the outcome is unknown; check deployment/backend in prod" in card.text
    assert any("Nothing will be re-applied" in line for line in survivor.board.lines())
    with survivor.sessions() as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.source == "operation")).one()
    assert (audit.user_id, audit.outcome, audit.subcommand) == ("U0ALICE", "interrupted", "rollback")
    late = run_ops(survivor, f"confirm {action_id}", user="U0ALICE")
    assert late.outcome == "conflict" and "interrupted" in late.text and backend.applied == []


def test_stopping_marks_this_replicas_running_operations_interrupted_at_once(make_runtime, run_ops):
    rt, backend, action_id = started(make_runtime, run_ops, hold=True)
    wait_until(lambda: any("confirmed" in line for line in rt.board.lines()), what="the operation to start")
    try:
        [gone] = rt.operations.runner.interrupt_mine()
        assert gone.id == action_id and state(rt, action_id)[0] == "interrupted"
        assert gone.outcome == "The bot was stopped while it ran."
    finally:
        backend.release.set()
    # The operation did finish after all: its real outcome replaces "interrupted".
    assert rt.operations.runner.idle(timeout=10) and state(rt, action_id)[0] == "succeeded"


def test_an_operation_waiting_for_a_worker_never_starts_once_interrupted(make_runtime, run_ops, clock):
    backend, other = FakeDeployment("backend"), FakeDeployment("frontend")
    config = {"operations": {"lease": "30s", "workers": 1}, "services": [{"name": "backend"}, {"name": "frontend"}]}
    rt = make_runtime(config, integrations=Integrations(rollback_targets={"backend": backend, "frontend": other}))
    first, second = (run_ops(rt, f"rollback {name}").card.key for name in ("backend", "frontend"))
    backend.release.clear()
    rt.operations.confirm(first, user="U0ALICE")
    wait_until(lambda: any("confirmed" in line for line in rt.board.lines()), what="the first to start")
    rt.operations.confirm(second, user="U0ALICE")             # no worker free: it waits in line
    survivor = make_runtime(config, integrations=Integrations(rollback_targets={"frontend": other}))
    clock.advance(seconds=31)                                 # this replica failed to renew: the other reaps
    assert {a.id for a in survivor.operations.runner.reap()} == {first, second}
    backend.release.set()
    assert rt.operations.runner.idle(timeout=10)
    assert other.applied == [] and state(rt, second)[0] == "interrupted"       # never started, never applied
    assert state(rt, first)[0] == "succeeded"                 # the first did run: its real outcome wins


def test_stopping_starts_nothing_that_was_waiting(make_runtime, run_ops):
    backend, other = FakeDeployment("backend"), FakeDeployment("frontend")
    config = {"operations": {"workers": 1}, "services": [{"name": "backend"}, {"name": "frontend"}]}
    rt = make_runtime(config, integrations=Integrations(rollback_targets={"backend": backend, "frontend": other}))
    first, second = (run_ops(rt, f"rollback {name}").card.key for name in ("backend", "frontend"))
    backend.release.clear()
    rt.operations.confirm(first, user="U0ALICE")
    wait_until(lambda: any("confirmed" in line for line in rt.board.lines()), what="the first to start")
    rt.operations.confirm(second, user="U0ALICE")
    gone = {a.id: a.outcome for a in rt.operations.runner.interrupt_mine()}
    assert gone == {first: "The bot was stopped while it ran.",
                    second: "The bot was stopped before it started: nothing was done."}
    backend.release.set()
    assert rt.operations.runner.idle(timeout=10) and other.applied == [] and len(backend.applied) == 1
