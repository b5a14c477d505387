"""Rollback, backup and scale: plan, dry run, confirmation by role, once-only, cancel, expiry, audit."""
import pytest
from sqlalchemy import select

from bot.reply import CardKind, CardRef
from bot.storage.models import AuditEntry, IncidentEvent, PendingAction
from integrations.base import Integrations
from tests.fakes.targets import FakeDeployment

CONFIG = {
    "permissions": {"admins": ["U0ADMIN"], "roles": {"deployer": ["U0ALICE"], "dba": ["U0BOB"]},
                    "commands": {"rollback": ["deployer"], "backup": ["deployer", "dba"], "scale": ["deployer"]}},
    "services": [{"name": "backend"}, {"name": "frontend"}],
    "databases": [{"name": "prod-db"}],
}


@pytest.fixture
def ops(make_runtime):
    backend, db = FakeDeployment("backend"), FakeDeployment("prod-db")
    integ = Integrations(rollback_targets={"backend": backend}, scale_targets={"backend": backend},
                         backup_targets={"prod-db": db})
    rt = make_runtime(CONFIG, integrations=integ)
    return rt, backend, db


def _action(rt):
    with rt.sessions() as s:
        return s.scalars(select(PendingAction)).one()


def test_rollback_asks_for_confirmation_saying_what_will_change(ops, run_ops):
    rt, backend, _ = ops
    reply = run_ops(rt, "rollback backend", user="U0CAROL")
    assert reply.card and reply.card.kind is CardKind.ACTION and not reply.ephemeral
    head = reply.blocks[0]
    assert "Roll back backend?" in head.text
    assert "revision 3 (web:3)  →  revision 2 (web:2)" in head.fields[1]
    assert [b.label for b in reply.buttons()] == ["Confirm rollback", "Cancel"]
    assert "Only admins or `deployer` may confirm" in reply.blocks[-1].text
    assert backend.applied == [] and _action(rt).state == "awaiting_confirmation"


def test_dry_run_changes_nothing_and_shows_the_change(ops, run_ops):
    rt, backend, _ = ops
    reply = run_ops(rt, "rollback backend to 1 --dry-run")
    assert "nothing was changed" in reply.blocks[0].text
    assert "revision 3 (web:3)  →  revision 1 (web:1)" in reply.blocks[0].fields[1]
    assert reply.buttons() == [] and backend.applied == []
    with rt.sessions() as s:
        assert s.query(PendingAction).count() == 0


def test_confirm_runs_once_and_reports_everywhere(ops, run_ops):
    rt, backend, _ = ops
    run_ops(rt, "incident open P1 backend 5xx --service backend")
    action_id = run_ops(rt, "rollback backend").card.key
    done = run_ops(rt, f"confirm {action_id}", user="U0ALICE")
    again = run_ops(rt, f"confirm {action_id}", user="U0ADMIN")
    assert done.outcome == "confirmed" and done.text.startswith(":arrow_forward: Confirmed: roll back")
    assert "running" in done.redraw[0].reply.text                  # the card, at once
    assert again.outcome == "conflict" and "<@U0ALICE>" in again.text
    assert len(backend.applied) == 1 and backend.revision == 2
    card = CardRef(CardKind.ACTION, action_id)
    thread = rt.board.lines(thread=card)
    assert thread[0].startswith(":arrow_forward: <@U0ALICE> confirmed") and "working on" in thread[1]
    assert "rollout finished: 3/3 ready" in thread[-1]
    assert "Rollback of backend done*: rollout finished: 3/3 ready" in rt.board.cards[card].text
    row = _action(rt)
    assert (row.state, row.decided_by) == ("succeeded", "U0ALICE") and "3/3 ready" in row.outcome
    with rt.sessions() as s:
        audit = [(a.source, a.subcommand, a.outcome) for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        timeline = [e.kind for e in s.scalars(select(IncidentEvent).order_by(IncidentEvent.id))]
    assert sorted(audit) == sorted([("test", "incident", "ok"), ("test", "rollback", "proposed"),
                                    ("test", "confirm", "confirmed"), ("operation", "rollback", "succeeded"),
                                    ("test", "confirm", "conflict")])
    assert timeline == ["opened", "rollback"]


@pytest.mark.parametrize("user", ["U0BOB", "U0NOBODY"])
def test_confirm_by_someone_without_the_role_is_refused_and_nothing_changes(ops, run_ops, user):
    rt, backend, _ = ops
    action_id = run_ops(rt, "rollback backend").card.key
    refused = run_ops(rt, f"confirm {action_id}", user=user)
    assert refused.outcome == "not_allowed" and "`deployer`" in refused.text
    assert backend.applied == [] and _action(rt).state == "awaiting_confirmation"
    with rt.sessions() as s:
        assert s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first().outcome == "not_allowed"


def test_backup_roles_allow_the_dba(ops, run_ops):
    rt, _, db = ops
    action_id = run_ops(rt, "backup prod-db").card.key
    done = run_ops(rt, f"confirm {action_id}", user="U0BOB")
    assert done.outcome == "confirmed" and len(db.applied) == 1
    assert "snapshot opsbot-prod-db-x available" in rt.board.lines(thread=CardRef(CardKind.ACTION, action_id))[-1]


def test_cancel_then_confirm_does_nothing(ops, run_ops):
    rt, backend, _ = ops
    action_id = run_ops(rt, "scale backend 5", user="U0CAROL").card.key
    assert run_ops(rt, f"cancel {action_id}", user="U0CAROL").outcome == "cancelled"   # the requester may cancel
    late = run_ops(rt, f"confirm {action_id}", user="U0ALICE")
    assert late.outcome == "conflict" and "cancelled" in late.text
    assert backend.applied == [] and backend.replicas == 3


def test_an_expired_request_cannot_be_confirmed(ops, run_ops, clock):
    rt, backend, _ = ops
    action_id = run_ops(rt, "rollback backend").card.key
    clock.advance(minutes=16)
    late = run_ops(rt, f"confirm {action_id}", user="U0ALICE")
    assert late.outcome == "conflict" and "expired" in late.text and backend.applied == []


def test_a_failing_operation_is_reported_as_failed(make_runtime, run_ops):
    broken = FakeDeployment("backend", fail_with="deployment/backend: cluster did not answer (ConnectTimeout)")
    rt = make_runtime(CONFIG, integrations=Integrations(rollback_targets={"backend": broken}))
    action_id = run_ops(rt, "rollback backend").card.key
    run_ops(rt, f"confirm {action_id}", user="U0ALICE")
    assert _action(rt).state == "failed"
    card = rt.board.cards[CardRef(CardKind.ACTION, action_id)]
    assert "failed*: deployment/backend: cluster did not answer" in card.text
    with rt.sessions() as s:
        assert s.scalars(select(AuditEntry.outcome).where(AuditEntry.source == "operation")).one() == "failed"


def test_nothing_to_roll_back_to_is_a_plain_answer(make_runtime, run_ops):
    first = FakeDeployment("backend", revision=1)
    rt = make_runtime(CONFIG, integrations=Integrations(rollback_targets={"backend": first}))
    reply = run_ops(rt, "rollback backend")
    assert reply.ephemeral and "no earlier revision" in reply.text


@pytest.mark.parametrize("text, expected", [
    ("rollback", "Which service?"),
    ("rollback frontend", "`frontend` has no rollback mechanism configured"),
    ("rollback backnd", "Did you mean `backend`?"),
    ("rollback backend to", "only `to <revision|version>`"),
    ("rollback backend --force", "Unknown option `--force`"),
    ("scale backend lots", "is not a replica count"),
    ("scale backend", "Name a service and a replica count."),
    ("backup nope", "I don't know the database `nope`"),
    ("confirm", "Give the id"),
    ("confirm deadbeef00000000", "There is no pending action"),
])
def test_bad_operation_input(ops, run_ops, text, expected):
    rt, backend, _ = ops
    reply = run_ops(rt, text)
    assert reply.ephemeral and expected in reply.text, reply.text
    assert backend.applied == []
