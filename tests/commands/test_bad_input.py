"""Every kind of bad input gets a short, helpful, ephemeral answer and an audit row; nothing raises."""
import logging
import sqlite3

import pytest
from sqlalchemy import select

import commands
from bot.audit import storable
from bot.reply import CardKind, CardRef
from bot.storage.models import AuditEntry
from commands.base import CommandContext
from commands.cards import current

BAD_INPUTS = {
    "unknown": ("stauts", "Did you mean `/ops status`?"),
    "empty": ("", "/ops status [service]"),
    "huge": ("status " + "x" * 10_000, "limit is 3,000"),
    "unicode": ("статус 🔥", "I don't know the command"),
    "shell": ("status; rm -rf / && $(reboot) `id` | cat", "Did you mean `/ops status`?"),
    "subshell": ("status $(reboot)", "I don't know the service `$(reboot)`"),
    "quotes": ('incident open P2 "unbalanced', "Unbalanced quotes"),
    "missing-arg": ("incident open", "Usage: `/ops incident open P1|P2|P3|P4 <title>"),
    "bad-id": ("incident ack abc", "is not an incident number"),
    "bad-verb": ("incident frobnicate", "has no action"),
    "long-title": ("incident open P2 " + "t" * 300, "keep it under 200"),
    "mention-injection": ("status <!channel>", "&lt;!channel&gt;"),
    "nul": ("incident open P2 disk\x00full", "a NUL character at position 22"),
    "surrogate": ("incident open P2 x\ud800", "a lone surrogate (U+D800)"),
    "control": ("status \x1b[2J", "a control character (U+001B)"),
    "id-too-big": ("alert silence 4294967296 1h", "is not an alert number"),
    "unicode-digit-id": ("incident ack ²", "is not an incident number"),
    "unicode-digit-count": ("scale backend ²", "is not a replica count"),
    "duration-too-long": ("alert silence 1 99999999999w", "is not a duration"),
    "override-too-long": ("oncall override <@U0X> 99999999999w", "is not a duration"),
    "step-too-big": ("alert escalate 1 from 99999999999", "say `from <step>`"),
    "run-too-big": ("checklist done 99999999999.1", "Which step?"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_helpful_answer_and_an_audit_row(make_runtime, run_ops, case):
    rt = make_runtime({"services": [{"name": "backend"}]})
    text, expected = BAD_INPUTS[case]
    reply = run_ops(rt, text)
    assert expected in reply.text or any(expected in getattr(b, "text", "") for b in reply.blocks), reply
    assert reply.ephemeral
    assert "Traceback" not in reply.text
    with rt.sessions() as s:
        row = s.scalars(select(AuditEntry)).one()
    assert row.command == storable(text, 4000)
    assert row.outcome in ("ok", "usage", "not_found", "unknown_command")


@pytest.mark.parametrize("user_id, channel_id, command, stored", [
    ("U0ALICE", "C0ONCALL", "ack 1\x00; drop", ("U0ALICE", "C0ONCALL", "ack 1\u2400; drop")),
    ("U0\x00X", "C\ud800", "help \udfff", ("U0\u2400X", "C\ufffd", "help \ufffd")),
    ("U" * 500, "C" * 500, "help", ("U" * 63 + "…", "C" * 63 + "…", "help")),
    ({"id": "U1"}, None, "help", ("{'id': 'U1'}", None, "help")),
])
def test_the_audit_row_is_written_whatever_the_command_held(make_runtime, user_id, channel_id, command, stored):
    rt = make_runtime()
    reply = commands.execute(CommandContext(rt=rt, user_id=user_id, channel_id=channel_id), command, source="test")
    assert reply.ephemeral and "Something went wrong" not in reply.text
    with rt.sessions() as s:
        row = s.scalars(select(AuditEntry)).one()
    assert (row.user_id, row.channel_id, row.command) == stored


@pytest.mark.parametrize("kind, key", [(CardKind.ALERT, "99999999999"), (CardKind.INCIDENT, "²"),
                                       (CardKind.CHECKLIST, "-1"), (CardKind.ACTION, "x\x00y"),
                                       (CardKind.ACTION, "a" * 500)])
def test_a_clicked_card_with_a_malformed_key_is_not_looked_up(make_runtime, kind, key):
    assert current(make_runtime(), CardRef(kind, key)) is None


def test_a_bug_shows_a_ref_that_is_also_in_the_log_and_audit(make_runtime, run_ops, caplog, monkeypatch):
    rt = make_runtime()

    def broken(ctx, args):
        raise RuntimeError("secret-internal-detail")

    # Replace one command's handler in the table: the only way to make our own code fail on purpose.
    monkeypatch.setitem(commands._BY_NAME, "boom",
                        commands.Subcommand(name="boom", usage="/ops boom", summary="", run=broken))
    reply = run_ops(rt, "boom")
    assert reply.outcome == "error" and reply.error_ref
    assert f"ref `{reply.error_ref}`" in reply.text and "secret-internal-detail" not in reply.text
    assert any(reply.error_ref in r.getMessage() for r in caplog.records)
    with rt.sessions() as s:
        row = s.scalars(select(AuditEntry)).one()
    assert (row.outcome, row.error_ref) == ("error", reply.error_ref)


def test_restricted_command_names_the_role(make_runtime, run_ops):
    rt = make_runtime({"permissions": {"roles": {"responder": ["U0BOB"]},
                                       "commands": {"incident": ["responder"]}}})
    refused = run_ops(rt, "incident open P1 x", user="U0ALICE")
    assert refused.outcome == "not_allowed" and "`responder`" in refused.text
    assert run_ops(rt, "incident open P1 x", user="U0BOB").outcome == "ok"


def test_help_lists_every_subcommand(make_runtime, run_ops):
    reply = run_ops(make_runtime(), "help")
    body = "\n".join(getattr(b, "text", "") for b in reply.blocks)
    for sub in commands.visible():
        assert f"/ops {sub.name}" in body
    assert "/ops confirm" not in body   # button targets stay out of the way


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_audit_row_waits_out_a_busy_database(make_runtime, run_ops, db_url):
    """SQLite's write lock held past the busy timeout (a burst of alerts does that): the row is written on a
    later try. The lock is let go when the bot says it will try again, so nothing here depends on timing."""
    rt = make_runtime()
    blocker = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")

    class LetGo(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "not written yet" in record.getMessage() and blocker.in_transaction:
                blocker.execute("ROLLBACK")

    handler = LetGo()
    logging.getLogger("bot.audit").addHandler(handler)
    try:
        reply = run_ops(rt, "help")
    finally:
        logging.getLogger("bot.audit").removeHandler(handler)
        blocker.close()
    assert reply.outcome == "ok"
    with rt.sessions() as s:
        assert s.scalars(select(AuditEntry.command)).all() == ["help"]
