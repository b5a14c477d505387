from sqlalchemy import select

from bot.reply import CardKind, CardRef
from bot.storage.models import AuditEntry, Incident


def test_open_then_list_shows_it_and_the_row_is_stored(make_runtime, run_ops):
    rt = make_runtime()
    card = run_ops(rt, "incident open P2 checkout errors")
    assert card.card == CardRef(CardKind.INCIDENT, "1") and not card.ephemeral
    assert "P2 · Incident #1: checkout errors" in card.blocks[0].text
    assert [b.label for b in card.buttons()] == ["Acknowledge", "Resolve"]
    listing = run_ops(rt, "incident list")
    assert "*#1* P2 checkout errors" in listing.text
    with rt.sessions() as s:
        row = s.scalars(select(Incident)).one()
        assert (row.title, row.severity, row.status, row.opened_by) == ("checkout errors", "P2", "open", "U0ALICE")


def test_ack_and_resolve_set_who_and_when(make_runtime, run_ops, clock):
    rt = make_runtime()
    run_ops(rt, "incident open P1 api down", user="U0ALICE")
    opened = clock.now
    clock.advance(minutes=3)
    ack = run_ops(rt, "incident ack #1", user="U0BOB")
    assert ack.redraw[0].ref == CardRef(CardKind.INCIDENT, "1") and "3m after it opened" in ack.text
    assert "acknowledged" in ack.redraw[0].reply.text
    clock.advance(minutes=40)
    done = run_ops(rt, "incident resolve 1 rolled back to 1.4.1", user="U0CAROL")
    assert "after 43m" in done.text and "rolled back to 1.4.1" in done.text
    with rt.sessions() as s:
        row = s.scalars(select(Incident)).one()
        assert (row.acknowledged_by, row.acknowledged_at) == ("U0BOB", opened.replace(minute=3))
        assert (row.resolved_by, row.status) == ("U0CAROL", "resolved")
        assert [e.kind for e in row.events] == ["opened", "acknowledged", "resolved"]


def test_second_ack_says_who_already_did(make_runtime, run_ops):
    rt = make_runtime()
    run_ops(rt, "incident open P1 api down")
    run_ops(rt, "incident ack 1", user="U0BOB")
    again = run_ops(rt, "incident ack 1", user="U0CAROL")
    assert again.ephemeral and again.outcome == "conflict" and "<@U0BOB>" in again.text


def test_open_with_a_known_service(make_runtime, run_ops):
    rt = make_runtime({"services": [{"name": "backend"}]})
    card = run_ops(rt, "incident open P3 slow search --service backend")
    assert "*Service*\nbackend" in card.blocks[0].fields


def test_every_action_audited_including_failures(make_runtime, run_ops):
    rt = make_runtime()
    run_ops(rt, "incident open P2 checkout errors")
    run_ops(rt, "incident ack 99")
    run_ops(rt, "incident open P9 nope")
    with rt.sessions() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(r.subcommand, r.outcome) for r in rows] == [
        ("incident", "ok"), ("incident", "not_found"), ("incident", "usage")]
    assert rows[0].user_id == "U0ALICE" and rows[0].command == "incident open P2 checkout errors"
