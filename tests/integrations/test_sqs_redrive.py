"""The SQS dead-letter queue adapter on moto (server mode, over HTTP).

moto 5.2.5 has no StartMessageMoveTask / ListMessageMoveTasks (it answers HTTP 500) and ignores a queue's
RedriveAllowPolicy: the tests of the move-task path and of finding a source through RedriveAllowPolicy answer
those calls with PartialStubber (every other call still goes to moto), and say so where they do it.
"""
import itertools
import json
from datetime import timedelta

import pytest

from integrations.aws.sqs_redrive import MOVE_HIDE_S, SqsRedriveQueue
from integrations.base import AccessDeniedError, RedrivePlan
from tests.fakes.aws import FakeTime, PartialStubber, aws, moto_server  # noqa: F401  (fixtures)
from tests.fakes.sqs import Queues


@pytest.fixture
def queues(aws):  # noqa: F811
    return Queues(aws)


def dlq(aws, url, *, source_url=None, timeout="30m", time_=None, monotonic=None):  # noqa: F811
    fake = time_ or FakeTime()
    return SqsRedriveQueue(url, aws.clients, source_url=source_url, poll_interval_s=10,
                           timeout=timedelta(minutes=int(timeout.removesuffix("m"))), sleep=fake.sleep,
                           monotonic=monotonic or fake.monotonic)


def test_peek_returns_distinct_messages_and_leaves_every_one_visible(aws, queues):  # noqa: F811
    _, url = queues.pair()
    queues.fill(url, 12)
    peek = dlq(aws, url).peek(limit=10)
    assert (peek.queue, peek.waiting, peek.in_flight) == ("orders-dlq", 12, 0)
    assert len({m.message_id for m in peek.messages}) == 10
    assert all(m.receive_count == 1 and m.sent_at is not None for m in peek.messages)
    assert queues.depth(url) == (12, 0)


def test_peek_by_queue_name_resolves_the_url(aws, queues):  # noqa: F811
    queues.pair()
    queues.fill(queues.sqs.get_queue_url(QueueName="orders-dlq")["QueueUrl"], 1)
    assert dlq(aws, "orders-dlq").peek(limit=5).waiting == 1


def follow(aws, queues, *tasks, before=None, timeout="30m"):  # noqa: F811
    """Redrive everything with the move task scripted (moto has none): returns outcome and progress lines.
    `before` is the newest task SQS lists before ours starts."""
    source, url = queues.pair()
    queues.fill(url, 20)
    target, lines = dlq(aws, url, timeout=timeout), []
    plan = target.plan_redrive(max_messages=None)
    # PartialStubber on the two move-task calls only: moto 5.2.5 does not implement them.
    with PartialStubber(aws.clients.client("sqs"), "StartMessageMoveTask", "ListMessageMoveTasks") as stub:
        stub.add_response("list_message_move_tasks", {"Results": [before] if before else []},
                          {"SourceArn": queues.arn(url), "MaxResults": 1})
        stub.add_response("start_message_move_task", {"TaskHandle": "task-1"},
                          {"SourceArn": queues.arn(url), "DestinationArn": queues.arn(source)})
        for task in tasks:
            stub.add_response("list_message_move_tasks", {"Results": [task]},
                              {"SourceArn": queues.arn(url), "MaxResults": 1})
        outcome = target.redrive(plan, progress=lines.append)
        stub.assert_no_pending_responses()
    return outcome, lines


def task(status, moved, total=20, started=1_800_000_000_000, **extra):
    handle = {"TaskHandle": "task-1"} if status == "RUNNING" else {}
    return {"Status": status, "ApproximateNumberOfMessagesMoved": moved, "ApproximateNumberOfMessagesToMove": total,
            "StartedTimestamp": started, **handle, **extra}


def test_redrive_of_everything_follows_an_sqs_move_task(aws, queues):  # noqa: F811
    outcome, lines = follow(aws, queues, task("RUNNING", 5), task("RUNNING", 5), task("RUNNING", 12),
                            task("COMPLETED", 20))
    assert outcome.ok and outcome.summary == "moved 20 of 20 message(s) from orders-dlq to orders"
    assert lines == ["SQS is moving the messages from orders-dlq to orders (a message move task).",
                     "moved 5/20", "moved 12/20"]


def test_an_earlier_finished_task_listed_before_ours_is_not_taken_for_ours(aws, queues):  # noqa: F811
    earlier = task("COMPLETED", 3, total=3, started=1_700_000_000_000)
    outcome, lines = follow(aws, queues, earlier, earlier, task("RUNNING", 9), task("COMPLETED", 20), before=earlier)
    assert outcome.ok and outcome.summary == "moved 20 of 20 message(s) from orders-dlq to orders"
    assert lines[1:] == ["moved 9/20"]


def test_a_failed_move_task_says_why_and_how_far_it_got(aws, queues):  # noqa: F811
    outcome, _ = follow(aws, queues, task("RUNNING", 3), task("FAILED", 7, FailureReason="AccessDenied on kms"))
    assert not outcome.ok
    assert outcome.summary == ("the move task ended FAILED (AccessDenied on kms) after moving 7 of 20 message(s); "
                               "the rest are still in the dead-letter queue")


def test_a_move_task_still_running_at_the_timeout_is_left_to_aws(aws, queues):  # noqa: F811
    # 1 min at a 10 s poll: 7 answers, all RUNNING.
    outcome, _ = follow(aws, queues, *[task("RUNNING", 4)] * 7, timeout="1m")
    assert not outcome.ok and outcome.summary.startswith("the move task still runs after 1m (moved 4 of 20 so far)")


def test_a_move_task_refused_for_permissions_is_not_worked_around(aws, queues):  # noqa: F811
    source, url = queues.pair()
    queues.fill(url, 2)
    target = dlq(aws, url)
    plan = target.plan_redrive(max_messages=None)
    with PartialStubber(aws.clients.client("sqs"), "StartMessageMoveTask", "ListMessageMoveTasks") as stub:
        stub.add_response("list_message_move_tasks", {"Results": []})
        stub.add_client_error("start_message_move_task", "AccessDenied", http_status_code=403)
        with pytest.raises(AccessDeniedError, match="queue orders-dlq: AWS credentials expired or not allowed"):
            target.redrive(plan, progress=lambda line: None)
    assert queues.depth(url) == (2, 0) and queues.depth(source) == (0, 0)


def test_fifo_messages_keep_their_group_and_deduplication_ids(aws, queues):  # noqa: F811
    source, url = queues.pair("orders.fifo", "orders-dlq.fifo")
    queues.put(url, "a", "b", "c")
    target = dlq(aws, url)
    outcome = target.redrive(target.plan_redrive(max_messages=3), progress=lambda line: None)
    assert outcome.ok
    moved = {m["Body"]: (m["Attributes"]["MessageGroupId"], m["Attributes"]["MessageDeduplicationId"])
             for m in queues.drain(source)}
    assert moved == {"a": ("group-0", "dedup-0"), "b": ("group-1", "dedup-1"), "c": ("group-0", "dedup-2")}


def test_message_attributes_travel_with_the_message(aws, queues):  # noqa: F811
    source, url = queues.pair()
    queues.put(url, "x", MessageAttributes={"tenant": {"DataType": "String", "StringValue": "acme"},
                                            "attempt": {"DataType": "Number", "StringValue": "3"}})
    target = dlq(aws, url)
    target.redrive(target.plan_redrive(max_messages=1), progress=lambda line: None)
    [m] = queues.drain(source)
    assert {k: v["StringValue"] for k, v in m["MessageAttributes"].items()} == {"tenant": "acme", "attempt": "3"}


def test_large_messages_are_sent_in_batches_under_the_size_limit(aws, queues):  # noqa: F811
    source, url = queues.pair()
    queues.put(url, *("y" * 100_000 for _ in range(5)))
    sends = []
    aws.clients.client("sqs").meta.events.register("provide-client-params.sqs.SendMessageBatch",
                                                   lambda params, **kw: sends.append(len(params["Entries"])))
    target = dlq(aws, url)
    assert target.redrive(target.plan_redrive(max_messages=5), progress=lambda line: None).ok
    assert sends == [2, 2, 1] and queues.depth(source) == (5, 0)


def test_a_batch_the_source_refuses_stays_in_the_dlq_visible(aws, queues):  # noqa: F811
    dlq_url = queues.create("orders-dlq")
    source = queues.create("orders", MaximumMessageSize="1024")
    queues.put(dlq_url, "small", "z" * 2000)
    target = dlq(aws, dlq_url, source_url=source)
    outcome = target.redrive(target.plan_redrive(max_messages=2), progress=lambda line: None)
    assert not outcome.ok and outcome.summary == ("moved 0 of 2 message(s) from orders-dlq to orders, then: queue "
                                                  "orders: AWS answered with an error (InvalidParameterValue)")
    assert queues.depth(dlq_url) == (2, 0) and queues.depth(source) == (0, 0)


def test_messages_the_source_refuses_one_by_one_stay_in_the_dlq_visible(aws, queues):  # noqa: F811
    source, url = queues.pair()
    queues.fill(url, 2)
    target = dlq(aws, url)
    plan = target.plan_redrive(max_messages=2)
    # PartialStubber on SendMessageBatch only: moto refuses a whole batch, never single entries.
    with PartialStubber(aws.clients.client("sqs"), "SendMessageBatch") as stub:
        stub.add_response("send_message_batch", {"Successful": [], "Failed": [
            {"Id": str(i), "SenderFault": True, "Code": "KmsAccessDenied"} for i in range(2)]})
        outcome = target.redrive(plan, progress=lambda line: None)
    assert not outcome.ok and outcome.summary == (
        "moved 0 of 2 message(s) from orders-dlq to orders, then: queue orders refused 2 messages (KmsAccessDenied); "
        "they are still in orders-dlq")
    assert queues.depth(url) == (2, 0)


def test_a_message_sent_but_not_deleted_is_reported_and_never_lost(aws, queues):  # noqa: F811
    source, url = queues.pair()
    queues.fill(url, 2)
    target = dlq(aws, url)
    plan = target.plan_redrive(max_messages=2)
    # PartialStubber on DeleteMessageBatch only: a delete that fails after the send succeeded cannot be made
    # to happen on moto.
    with PartialStubber(aws.clients.client("sqs"), "DeleteMessageBatch") as stub:
        stub.add_response("delete_message_batch", {"Successful": [{"Id": "0"}], "Failed": [
            {"Id": "1", "SenderFault": False, "Code": "InternalError"}]})
        outcome = target.redrive(plan, progress=lambda line: None)
    assert outcome.ok
    assert "2 of 2 message(s)" in outcome.summary and "2 of them could not be deleted" not in outcome.summary
    assert "; 1 of them could not be deleted from orders-dlq and will show there again" in outcome.summary
    assert queues.depth(source) == (2, 0)
    # Both are still in the DLQ (the stub deleted nothing): hidden for MOVE_HIDE_S, then visible again.
    assert queues.depth(url) == (0, 2) and MOVE_HIDE_S <= 300


def test_batches_stop_at_the_timeout_and_say_how_far_they_got(aws, queues):  # noqa: F811
    source, url = queues.pair()
    queues.fill(url, 30)
    ticks = itertools.count()
    target = dlq(aws, url, monotonic=lambda: next(ticks) * 600.0)     # 10 min per look at the clock
    outcome = target.redrive(target.plan_redrive(max_messages=30), progress=lambda line: None)
    assert not outcome.ok
    assert outcome.summary == "moved 20 of 30 message(s) from orders-dlq to orders, then: stopped after 30m"
    assert queues.depth(source) == (20, 0) and queues.depth(url) == (10, 0)


def test_the_source_can_come_from_the_redrive_allow_policy(aws, queues):  # noqa: F811
    source = queues.create("orders")
    url = queues.create("orders-dlq")
    policy = json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [queues.arn(source)]})
    # PartialStubber on GetQueueAttributes only: moto drops a queue's RedriveAllowPolicy.
    with PartialStubber(aws.clients.client("sqs"), "GetQueueAttributes") as stub:
        stub.add_response("get_queue_attributes", {"Attributes": {"ApproximateNumberOfMessages": "4",
                                                                  "RedriveAllowPolicy": policy}})
        plan = dlq(aws, url).plan_redrive(max_messages=None)
    assert plan == RedrivePlan(target="queue orders-dlq → queue orders", current="4 messages waiting in orders-dlq",
                               desired="all of them back in orders", queue_url=url, source_url=source,
                               max_messages=None)
