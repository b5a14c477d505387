"""/ops incident note and /ops incident postmortem through commands.execute, on both databases: a P1 that had
alerts, an escalation, acknowledgements, a real rollback on the Kubernetes fake and notes gets a postmortem with
all of them in time order, and MTTA and MTTR as computed by hand (and as the weekly report computes them). The
document is written to a directory and to S3 on moto."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.alerts.model import AlertEvent
from bot.reply import ActionId, CardKind, CardRef
from bot.storage.models import AuditEntry, IncidentEvent
from schedules.weekly_report import compute
from tests.alerts.workers import escalator
from tests.fakes.aws import aws, moto_server  # noqa: F401  (fixtures)
from tests.fakes.kube import kube, kubeconfig  # noqa: F401  (fixture)

START = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def config(tmp_path: Path, kube_url: str, **postmortems: object) -> dict[str, object]:
    return {
        "integrations": {"kubernetes": {"kubeconfig": kubeconfig(tmp_path, kube_url), "context": "prod",
                                        "timeout": "1s", "poll_interval": "100ms"}},
        "permissions": {"roles": {"deployer": ["U0ALICE"]}, "commands": {"rollback": ["deployer"]}},
        "alerts": {"escalation": {"P1": {"steps": [{"after": "5m", "notify": ["U0LEAD"]}]}}},
        "services": [{"name": "backend", "kubernetes": {"deployment": "web", "namespace": "prod"}}],
        "incidents": {"postmortems": {"directory": str(tmp_path / "postmortems"), **postmortems}},
    }


def fire(rt, key: str, title: str, severity: str, status: str = "firing") -> None:
    rt.alerts.ingest([AlertEvent(source="webhook", dedup_key=key, title=title, status=status, severity=severity,
                                 service="backend")])


def section(markdown: str, name: str) -> str:
    return markdown.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]


def headings(markdown: str) -> list[tuple[str, str, str]]:
    """(time, what, who) of each timeline line, in the document's order."""
    line = r"^- `2026-11-23 (\d\d:\d\d:\d\d) UTC` \*\*(.+?)\*\*(?: — ([^\s:]+))?"
    return re.findall(line, section(markdown, "Timeline"), re.M)


def an_incident_with_everything(rt, run_ops, clock, kube) -> None:  # noqa: F811
    """03:00 a P1 alert opens incident #1; the escalation, an ack, notes, a rollback, the alert resolving, the
    incident resolved at 03:40."""
    kube.seed_deployment()
    clock.now = START
    fire(rt, "backend-5xx", "backend 5xx rate", "critical")                     # alert #1 opens incident #1
    clock.advance(minutes=2)
    fire(rt, "backend-latency", "backend p99 latency", "warning")               # alert #2, same service
    clock.advance(minutes=3)
    assert [s.users for s in escalator(rt).run_once()] == [("U0LEAD",)]         # 03:05 escalated
    clock.advance(minutes=2, seconds=30)
    assert run_ops(rt, "ack 1", user="U0BOB").outcome == "ok"                  # 03:07:30 acknowledged
    clock.advance(minutes=2, seconds=30)
    assert run_ops(rt, "incident note 1 error rate 40%, suspect deploy web:3", user="U0BOB").outcome == "ok"
    clock.advance(minutes=2)
    proposal = run_ops(rt, "rollback backend", user="U0CAROL")                  # 03:12 asked
    assert proposal.card is not None, proposal.text
    clock.advance(minutes=1)
    assert run_ops(rt, f"confirm {proposal.card.key}", user="U0ALICE").outcome == "confirmed"   # 03:13
    assert rt.operations.get(proposal.card.key).state == "succeeded"
    clock.advance(minutes=7)
    fire(rt, "backend-5xx", "backend 5xx rate", "critical", status="resolved")  # 03:20 the alert resolves
    clock.advance(minutes=5)
    note = "didn't page the DBA: it's the app, not \"the database\"\nerrors back to baseline"
    assert run_ops(rt, f"incident note 1 {note}", user="U0ALICE").outcome == "ok"
    clock.advance(minutes=15)
    assert run_ops(rt, "incident resolve #1 rolled back to web:2", user="U0BOB").outcome == "ok"   # 03:40


def test_the_postmortem_has_everything_in_order_with_mtta_and_mttr_by_hand(
        make_runtime, run_ops, clock, kube, tmp_path):  # noqa: F811
    rt = make_runtime(config(tmp_path, kube.url))
    an_incident_with_everything(rt, run_ops, clock, kube)
    clock.now = START + timedelta(hours=1)
    reply = run_ops(rt, "incident postmortem 1", user="U0CAROL")
    assert reply.outcome == "ok" and not reply.ephemeral
    doc = reply.attachment.content
    assert reply.attachment.filename == "incident-1-backend-5xx-rate.md"
    assert headings(doc) == [
        ("03:00:00", "Incident opened", "opsbot"),
        ("03:00:00", "Alert #1 fired", "opsbot"),
        ("03:02:00", "Alert #2 fired", "opsbot"),
        ("03:05:00", "Escalated", "opsbot"),
        ("03:07:30", "Incident acknowledged", "@U0BOB"),
        ("03:07:30", "Alert #1 acknowledged", "@U0BOB"),
        ("03:10:00", "Note", "@U0BOB"),
        ("03:12:00", "Rollback of backend requested", "@U0CAROL"),
        ("03:13:00", "Rollback of backend confirmed", "@U0ALICE"),
        ("03:13:00", "Rollback of backend succeeded", "opsbot"),
        ("03:20:00", "Alert #1 resolved", "opsbot"),
        ("03:25:00", "Note", "@U0ALICE"),
        ("03:40:00", "Incident resolved", "@U0BOB"),
    ]
    timeline = section(doc, "Timeline")
    assert "**Escalated** — opsbot (automatically): step 1/1: U0LEAD" in timeline
    assert "**Note** — @U0BOB: error rate 40%, suspect deploy web:3" in timeline
    assert "  > didn't page the DBA: it's the app, not \"the database\"\n  > errors back to baseline" in timeline
    assert "revision 3 (web:3) → revision 2 (web:2)" in timeline
    assert "**Rollback of backend succeeded** — opsbot (automatically): rollout finished: 3/3 ready" in timeline

    # MTTA: opened 03:00:00 -> acknowledged 03:07:30; MTTR: opened 03:00:00 -> resolved 03:40:00.
    assert "| MTTA (time to acknowledge) | 7m 30s | opened → acknowledged |" in doc
    assert "| MTTR (time to resolve) | 40m | opened → resolved |" in doc
    week = compute(rt, end=START + timedelta(days=1))
    assert (week.overall.mtta, week.overall.mttr) == (timedelta(minutes=7, seconds=30), timedelta(minutes=40))
    assert "MTTA 7m 30s, MTTR 40m" in reply.text

    impact = section(doc, "Impact")
    assert "| Started | 2026-11-23 03:00:00 UTC (incident opened) |" in impact
    assert "| Ended | 2026-11-23 03:40:00 UTC (resolved) |" in impact and "| Duration | 40m |" in impact
    assert "| Services affected | `backend` |" in impact and "| Alerts | 2 alerts, fired 2 times |" in impact
    summary = section(doc, "Summary")
    assert "acknowledged by @U0BOB after 7m 30s, and resolved by @U0BOB after 40m" in summary
    assert "Resolution note: rolled back to web:2" in summary
    who = section(doc, "Who did what")
    assert ("- @U0BOB: acknowledged the incident, acknowledged alert #1, added a note, resolved the incident"
            in who)
    assert "- @U0ALICE: confirmed the rollback of backend, added a note" in who
    assert "- @U0CAROL: asked for the rollback of backend" in who
    assert "| rollback of `backend` at 2026-11-23 03:12:00 UTC |" in section(doc, "Bot actions")

    written = tmp_path / "postmortems" / "incident-1-backend-5xx-rate.md"
    assert written.read_text(encoding="utf-8") == doc
    assert f"Saved to `{written}`" in reply.text
    with rt.sessions() as s:
        event = s.scalars(select(IncidentEvent).where(IncidentEvent.kind == "postmortem")).one()
        audit = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (event.actor, event.note) == ("U0CAROL", str(written))
    assert (audit.subcommand, audit.outcome, audit.detail) == ("incident", "ok", f"saved: {written}")


def test_resolving_a_p1_asks_for_a_postmortem_until_one_is_written(make_runtime, run_ops, clock):
    rt = make_runtime()
    run_ops(rt, "incident open P1 checkout down")
    run_ops(rt, "incident open P2 search slow")
    resolved = run_ops(rt, "incident resolve 1")
    assert "A P1 needs a postmortem: press *Write postmortem* on the card, or type " \
           "`/ops incident postmortem 1`" in resolved.text
    card = resolved.redraw[0].reply
    assert [(b.label, b.action_id, b.value) for b in card.buttons()] == [
        ("Write postmortem", ActionId.INCIDENT_POSTMORTEM, "1")]
    assert "needs a postmortem" in card.blocks[-1].text
    assert [b.label for b in run_ops(rt, "incident resolve 2").redraw[0].reply.buttons()] == []   # a P2: no ask
    clock.advance(hours=3)
    done = run_ops(rt, "incident postmortem 1", user="U0BOB")
    assert done.redraw[0].ref == CardRef(CardKind.INCIDENT, "1")
    card = done.redraw[0].reply
    assert card.buttons() == [] and "Postmortem written by <@U0BOB> 0s ago." in card.blocks[-1].text
    assert "Saved to" not in done.text                     # nothing configured: Slack only


def test_a_postmortem_of_an_open_incident_is_a_draft_and_asks_again_once_resolved(make_runtime, run_ops, clock):
    rt = make_runtime()
    run_ops(rt, "incident open P1 api down")
    clock.advance(minutes=10)
    draft = run_ops(rt, "incident postmortem 1")
    assert "still open: this is a draft" in draft.text and "MTTA —, MTTR —" in draft.text
    assert "| Ended | not yet: still open |" in draft.attachment.content
    assert "| Duration | 10m so far |" in draft.attachment.content
    resolved = run_ops(rt, "incident resolve 1")
    assert [b.label for b in resolved.redraw[0].reply.buttons()] == ["Write postmortem"]


def test_notes_keep_what_was_typed_up_to_3000_characters_and_are_audited(make_runtime, run_ops):
    rt = make_runtime()
    run_ops(rt, "incident open P2 queue backlog")
    long = "x" * 2990 + " it's ok"
    reply = run_ops(rt, f"incident note 1 {long}", user="U0BOB")
    assert reply.outcome == "ok" and not reply.ephemeral and len(reply.text) < 700
    assert "Last: note by <@U0BOB>" in reply.redraw[0].reply.blocks[-1].text
    assert len(reply.redraw[0].reply.blocks[-1].text) < 500                  # the card shows the start of it
    too_long = run_ops(rt, "incident note 1 " + "y" * 3001)
    assert too_long.outcome == "usage" and "The note is 3,001 characters; keep it under 3,000." in too_long.text
    resolve = run_ops(rt, "incident resolve 1 " + "z" * 2000 + " it's the cache")
    assert resolve.outcome == "ok" and len(resolve.text) < 700
    with rt.sessions() as s:
        notes = [(e.kind, e.note) for e in s.scalars(select(IncidentEvent).order_by(IncidentEvent.id))][1:]
        audit = [(a.subcommand, a.outcome) for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert notes == [("note", long), ("resolved", "z" * 2000 + " it's the cache")]
    assert audit == [("incident", "ok"), ("incident", "ok"), ("incident", "usage"), ("incident", "ok")]


@pytest.mark.parametrize(("text", "expected"), [
    ("incident note", "Which incident? Give its number."),
    ("incident note 1", "Write the note after the incident's number"),
    ("incident note abc hello", "`abc` is not an incident number."),
    ("incident note 7 hello", "There is no incident #7."),
    ("incident postmortem", "Which incident? Give its number."),
    ("incident postmortem 1 2", "Too many arguments."),
    ("incident postmortem 9", "There is no incident #9."),
    ("incident note 1 bad\x00byte", "contains a NUL character"),
])
def test_bad_note_and_postmortem_commands_get_a_short_answer(make_runtime, run_ops, text, expected):
    rt = make_runtime()
    run_ops(rt, "incident open P2 queue backlog")
    reply = run_ops(rt, text)
    assert reply.ephemeral and expected in reply.text and "Traceback" not in reply.text


def test_written_to_s3_on_moto(make_runtime, run_ops, aws, tmp_path):  # noqa: F811
    aws.seed("s3").create_bucket(Bucket="team-postmortems")
    rt = make_runtime({"integrations": {"aws": {"region": "us-east-1"}},
                       "incidents": {"postmortems": {"s3": {"bucket": "team-postmortems", "prefix": "pm/2026/"}}}})
    run_ops(rt, "incident open P1 payments timing out")
    run_ops(rt, "incident resolve 1")
    reply = run_ops(rt, "incident postmortem 1")
    assert "Saved to `s3://team-postmortems/pm/2026/incident-1-payments-timing-out.md`" in reply.text
    stored = aws.seed("s3").get_object(Bucket="team-postmortems", Key="pm/2026/incident-1-payments-timing-out.md")
    assert stored["Body"].read().decode() == reply.attachment.content
    assert stored["ContentType"] == "text/markdown; charset=utf-8"


def test_a_store_that_fails_is_named_and_the_others_still_get_it(make_runtime, run_ops, aws, tmp_path):  # noqa: F811
    rt = make_runtime({"integrations": {"aws": {"region": "us-east-1"}},
                       "incidents": {"postmortems": {"directory": str(tmp_path / "pm"),
                                                     "s3": {"bucket": "no-such-bucket"}}}})
    run_ops(rt, "incident open P1 payments timing out")
    reply = run_ops(rt, "incident postmortem 1")
    assert reply.outcome == "ok" and reply.attachment is not None
    assert f"Saved to `{tmp_path / 'pm' / 'incident-1-payments-timing-out.md'}`" in reply.text
    assert ":warning: Not saved: the postmortem bucket no-such-bucket: not found (NoSuchBucket)" in reply.text


def test_an_unwritable_directory_is_a_short_answer(make_runtime, run_ops, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    rt = make_runtime({"incidents": {"postmortems": {"directory": str(blocked / "pm")}}})
    run_ops(rt, "incident open P3 disk filling")
    reply = run_ops(rt, "incident postmortem 1")
    assert f":warning: Not saved: the postmortem directory {blocked / 'pm'}: could not write" in reply.text
    assert reply.attachment is not None                     # it still goes to Slack
