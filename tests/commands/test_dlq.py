"""/ops dlq through commands.execute, with the real SQS adapter on moto: peek, redrive, and every bad input."""
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.storage.models import AuditEntry, PendingAction
from tests.fakes.aws import aws, moto_server  # noqa: F401  (fixtures)
from tests.fakes.sqs import Queues

ACCOUNT = "123456789012"


def config(url: str, **queue: str) -> dict:
    return {
        "integrations": {"aws": {"region": "us-east-1", "poll_interval": "100ms", "read_timeout": "5s"}},
        "permissions": {"roles": {"oncall": ["U0ALICE", "U0BOB", "U0CAROL"], "queue-admin": ["U0ALICE"]},
                        "commands": {"dlq": ["oncall"], "redrive": ["queue-admin"]}},
        "services": [{"name": "backend"}, {"name": "rescheduler", "sqs_dlq": "rescheduler-dlq"}],
        "queues": [{"name": "orders-dlq", "url": f"{url}/{ACCOUNT}/orders-dlq", **queue}],
    }


@pytest.fixture
def queues(aws):  # noqa: F811
    return Queues(aws)


@pytest.fixture
def rt(make_runtime, aws):  # noqa: F811
    return make_runtime(config(aws.url))


def text_of(reply) -> str:
    return "\n".join([reply.text, *(getattr(b, "text", "") for b in reply.blocks)])


def test_peek_shows_masked_bodies_counts_and_ages_and_consumes_nothing(rt, run_ops, queues, clock):
    _, dlq = queues.pair()
    queues.put(dlq, '{"order": 1, "password": "hunter22secret"}', "Authorization: Bearer abcdefghijklmnop",
               '{"order": 3}')
    clock.now = datetime.now(UTC) + timedelta(hours=3, minutes=1)
    reply = run_ops(rt, "dlq orders-dlq peek 2")
    text = text_of(reply)
    assert reply.outcome == "ok" and reply.ephemeral
    assert "*orders-dlq*: 3 waiting · showing 2" in text
    assert text.count("received once · sent 3h 1m ago") == 2
    assert "hunter22secret" not in text and "abcdefghijklmnop" not in text
    assert queues.depth(dlq) == (3, 0)                      # all still there, all visible at once
    again = text_of(run_ops(rt, "dlq orders-dlq peek"))
    assert "showing 3" in again and "received 2 times" in again
    with rt.sessions() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(r.subcommand, r.outcome, r.detail) for r in rows] == [("dlq", "ok", "2 of 3 shown"),
                                                                  ("dlq", "ok", "3 of 3 shown")]


def test_peek_of_an_empty_queue_says_so(rt, run_ops, queues):
    queues.pair()
    assert "*orders-dlq* has no messages waiting." in run_ops(rt, "dlq orders-dlq peek").text


def test_peek_trims_a_long_body(rt, run_ops, queues):
    _, dlq = queues.pair()
    queues.put(dlq, "x" * 5000)
    body = text_of(run_ops(rt, "dlq orders-dlq peek 1"))
    assert "x" * 499 + "…```" in body and "x" * 501 not in body


def test_redrive_moves_every_message_back_and_the_card_counts_them(rt, run_ops, queues):
    source, dlq = queues.pair()
    queues.fill(dlq, 23)
    proposal = run_ops(rt, "dlq orders-dlq redrive", user="U0CAROL")
    assert proposal.card and "Confirm redrive" in json.dumps([b.label for b in proposal.buttons()])
    assert "23 messages waiting in orders-dlq  →  all of them back in orders" in proposal.blocks[0].fields[1]
    assert run_ops(rt, f"confirm {proposal.card.key}").outcome == "confirmed"
    action = rt.operations.get(proposal.card.key)
    assert action.state == "succeeded", action.outcome
    assert action.outcome == "moved 23 of 23 message(s) from orders-dlq to orders; 0 messages left in orders-dlq"
    assert queues.depth(dlq) == (0, 0) and queues.depth(source) == (23, 0)
    moved = sorted(json.loads(m["Body"])["failed_event"] for m in queues.drain(source))
    assert moved == list(range(23))
    thread = rt.board.lines(thread=proposal.card)
    assert any("no message move tasks" in line for line in thread)
    assert [line for line in thread if line.startswith("moved ")] == ["moved 10/23", "moved 20/23", "moved 23/23"]


def test_redrive_with_max_moves_at_most_that_many(rt, run_ops, queues):
    source, dlq = queues.pair()
    queues.fill(dlq, 15)
    proposal = run_ops(rt, "dlq orders-dlq redrive --max 4", user="U0CAROL")
    assert "15 messages waiting in orders-dlq  →  4 of them back in orders" in proposal.blocks[0].fields[1]
    run_ops(rt, f"confirm {proposal.card.key}")
    assert rt.operations.get(proposal.card.key).outcome.startswith("moved 4 of 4 message(s)")
    assert queues.depth(source) == (4, 0) and queues.depth(dlq) == (11, 0)


def test_dry_run_changes_nothing(rt, run_ops, queues):
    source, dlq = queues.pair()
    queues.fill(dlq, 3)
    reply = run_ops(rt, "dlq orders-dlq redrive --max=2 --dry-run")
    assert "Dry run: redrive orders-dlq" in reply.blocks[0].text
    assert queues.depth(dlq) == (3, 0) and queues.depth(source) == (0, 0)
    with rt.sessions() as s:
        assert s.scalars(select(PendingAction)).all() == []


def test_a_service_dlq_is_named_by_the_service(rt, run_ops, queues):
    source, dlq = queues.pair("rescheduler", "rescheduler-dlq")
    queues.fill(dlq, 2)
    assert "*rescheduler*: 2 waiting · showing 2" in text_of(run_ops(rt, "dlq rescheduler peek"))
    proposal = run_ops(rt, "dlq Rescheduler redrive", user="U0CAROL")
    run_ops(rt, f"confirm {proposal.card.key}")
    assert queues.depth(source) == (2, 0) and queues.depth(dlq) == (0, 0)


def test_a_configured_source_wins(make_runtime, run_ops, queues, aws):  # noqa: F811
    queues.pair()
    other = queues.create("orders-replay")
    queues.fill(queues.sqs.get_queue_url(QueueName="orders-dlq")["QueueUrl"], 2)
    rt = make_runtime(config(aws.url, source_url=other))
    proposal = run_ops(rt, "dlq orders-dlq redrive", user="U0CAROL")
    run_ops(rt, f"confirm {proposal.card.key}")
    assert queues.depth(other) == (2, 0)


def test_the_redrive_role_is_checked_on_confirm_and_the_dlq_role_on_asking(rt, run_ops, queues):
    _, dlq = queues.pair()
    queues.fill(dlq, 2)
    refused = run_ops(rt, "dlq orders-dlq peek", user="U0MALLORY")
    assert refused.outcome == "not_allowed" and "`/ops dlq` needs the role `oncall`" in refused.text
    proposal = run_ops(rt, "dlq orders-dlq redrive", user="U0BOB")
    assert "Only admins or `queue-admin` may confirm" in text_of(proposal)
    no = run_ops(rt, f"confirm {proposal.card.key}", user="U0BOB")
    assert no.outcome == "not_allowed" and "Confirming this redrive needs the role `queue-admin`" in no.text
    assert queues.depth(dlq) == (2, 0)


@pytest.mark.parametrize("text, expected", [
    ("dlq", "Which dead-letter queue? Queues: `orders-dlq`, `rescheduler`."),
    ("dlq peek", "Name the queue first: `/ops dlq <queue> peek`."),
    ("dlq ordrs-dlq peek", "I don't know the queue `ordrs-dlq`. Did you mean `orders-dlq`?"),
    ("dlq backend peek", "`backend` has no dead-letter queue configured (add `sqs_dlq:` to the service"),
    ("dlq orders-dlq", "What should I do with `orders-dlq`? `peek [N]` shows its messages"),
    ("dlq orders-dlq pek", "I can't `pek` a queue. Did you mean `peek`?"),
    ("dlq orders-dlq peek abc", "`abc` is not a number of messages to show (1–10)."),
    ("dlq orders-dlq peek 11", "`11` is not a number of messages to show (1–10)."),
    ("dlq orders-dlq peek 0", "`0` is not a number of messages to show (1–10)."),
    ("dlq orders-dlq peek ²", "`²` is not a number of messages to show"),
    ("dlq orders-dlq peek 1 2", "`peek` takes one number at most"),
    ("dlq orders-dlq redrive --max", "`--max` needs a number of messages, such as `--max 100`."),
    ("dlq orders-dlq redrive --max lots", "`lots` is not a number of messages to move (1–100,000)."),
    ("dlq orders-dlq redrive --max 100001", "`100001` is not a number of messages to move"),
    ("dlq orders-dlq redrive --force", "Unknown option `--force`."),
    ("dlq orders-dlq redrive now", "After `redrive` only `--max N` and `--dry-run` may follow, not `now`."),
])
def test_bad_input_gets_a_short_specific_answer(make_runtime, run_ops, text, expected):
    rt = make_runtime(config("https://sqs.us-east-1.amazonaws.com"))
    reply = run_ops(rt, text)
    assert expected in reply.text, reply.text
    assert reply.ephemeral and reply.outcome in ("usage", "not_found")
    with rt.sessions() as s:
        assert s.scalars(select(AuditEntry.command)).one() == text


def test_a_queue_missing_in_aws_is_named(rt, run_ops):
    for text in ("dlq orders-dlq peek", "dlq rescheduler redrive"):
        reply = run_ops(rt, text)
        assert reply.outcome == "not_found" and ": not found (AWS.SimpleQueueService.NonExistentQueue)" in reply.text


def test_redrive_without_a_known_source_is_refused(rt, run_ops, queues):
    queues.pair(linked=False)
    queues.fill(queues.sqs.get_queue_url(QueueName="orders-dlq")["QueueUrl"], 1)
    reply = run_ops(rt, "dlq orders-dlq redrive")
    assert reply.outcome == "not_possible"
    assert "queue orders-dlq: no source queue known to redrive to" in reply.text and "`source_url`" in reply.text


def test_redrive_of_a_dlq_with_several_sources_asks_for_one(rt, run_ops, queues):
    _, dlq = queues.pair()
    queues.create("payments", RedrivePolicy=json.dumps({"deadLetterTargetArn": queues.arn(dlq),
                                                         "maxReceiveCount": 3}))
    queues.fill(dlq, 1)
    reply = run_ops(rt, "dlq orders-dlq redrive")
    assert "is the dead-letter queue of 2 queues (" in reply.text and "source_url" in reply.text


def test_redrive_of_an_empty_dlq_is_refused(rt, run_ops, queues):
    queues.pair()
    assert "queue orders-dlq is empty: nothing to redrive" in run_ops(rt, "dlq orders-dlq redrive").text
