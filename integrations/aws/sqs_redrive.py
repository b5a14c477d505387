"""A dead-letter queue to look into and empty back into its source queue: `/ops dlq <queue> peek|redrive`.

Peeking receives with a short visibility timeout and makes what it received visible again at once
(ChangeMessageVisibilityBatch to 0): a peek consumes nothing, and several receives see different messages
(with VisibilityTimeout=0 each receive could return the same ones again). SQS counts every receive, so each
peek adds one to a message's ApproximateReceiveCount. If the bot stops between the two calls, the messages
show again by themselves after PEEK_HIDE_S.

Redriving all messages starts an SQS message move task (StartMessageMoveTask) and follows it. With a limit
(`--max N`), or where the endpoint has no move tasks (moto 5.2.5 answers StartMessageMoveTask with a bare
HTTP 500), it moves batches itself: receive, send to the source queue, and delete from the dead-letter queue
only what the source accepted. A message is never lost; one can arrive twice (at least once) when the bot
stops after a send and before its delete, or when the delete fails: the copy left behind shows again in the
dead-letter queue after MOVE_HIDE_S. A FIFO source gets each message's group id and deduplication id, so SQS
drops such a second copy within its five-minute deduplication window.
"""
from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.clock import humanize
from integrations.aws import AwsClients
from integrations.aws.errors import code_of, translated
from integrations.base import AdapterError, NotPossibleError, Outcome, Progress, QueueMessage, QueuePeek, RedrivePlan
from integrations.polling import Poller

log = logging.getLogger(__name__)

PEEK_HIDE_S = 20            # a peeked message is hidden at most this long (made visible again at once)
MOVE_HIDE_S = 120           # a batch being moved is hidden this long: it shows again if the bot stops meanwhile
PEEK_RECEIVES = 5           # receives one peek may make to collect its messages
BATCH = 10                  # SQS's most messages per receive, send batch and delete batch
BATCH_BYTES = 256 * 1024    # a send batch's payload limit (the smallest SQS has had)
TASK_ENDED = ("COMPLETED", "CANCELLED", "FAILED")
# StartMessageMoveTask answers meaning "not here": an emulator without it (moto: HTTP 500 without an AWS error
# code), or a queue pair SQS does not move between (the source's RedrivePolicy names another DLQ).
NO_MOVE_TASKS = {"InvalidAction", "NotImplemented", "UnknownOperationException", "UnsupportedOperation",
                 "AWS.SimpleQueueService.UnsupportedOperation"}


def queue_name(url_or_name: str) -> str:
    return url_or_name.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class _Received:
    receipt: str
    entry: dict[str, Any]        # a SendMessageBatch entry without its Id
    size: int


@dataclass(frozen=True, slots=True)
class _Batch:
    sent: int
    refused: int                 # received, not accepted by the source: visible in the dead-letter queue again
    twice: int                   # sent, but not deleted from the dead-letter queue
    refusal: str = ""            # the source's error code for the first refused message
    error: str = ""              # sending failed: why (the unsent messages are visible in the DLQ again)


class SqsRedriveQueue:
    """RedriveTarget over SQS. `queue` is the dead-letter queue's URL, or its name (a service's `sqs_dlq`)."""

    def __init__(self, queue: str, clients: AwsClients, *, source_url: str | None, timeout: timedelta,
                 poll_interval_s: float = 10.0, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.queue, self.clients, self.source_url, self.timeout = queue, clients, source_url, timeout
        self.monotonic = monotonic
        self.poller = Poller(interval_s=poll_interval_s, sleep=sleep, monotonic=monotonic)
        self.label = queue_name(queue)
        self.subject = f"queue {self.label}"
        # Long polling asks every SQS server (a short poll samples some and may say "empty" wrongly); it
        # needs a read timeout longer than the wait.
        self.wait_s = 1 if clients.timeout_s > 3 else 0

    def _sqs(self) -> Any:
        return self.clients.client("sqs")

    def _url(self) -> str:
        if self.queue.startswith(("https://", "http://")):
            return self.queue
        return str(self._sqs().get_queue_url(QueueName=self.queue)["QueueUrl"])

    def _attributes(self, url: str, *names: str) -> dict[str, str]:
        return dict(self._sqs().get_queue_attributes(QueueUrl=url, AttributeNames=list(names)).get("Attributes", {}))

    # --- peek ----------------------------------------------------------------------------------------------
    def peek(self, *, limit: int) -> QueuePeek:
        with translated(self.subject):
            url = self._url()
            attrs = self._attributes(url, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
            waiting = int(attrs.get("ApproximateNumberOfMessages", 0))
            seen: dict[str, QueueMessage] = {}
            receipts: list[str] = []
            try:
                for _ in range(PEEK_RECEIVES):
                    if len(seen) >= min(limit, waiting):
                        break
                    got = self._receive(url, min(BATCH, limit - len(seen)), hide_s=PEEK_HIDE_S, everything=False)
                    if not got:
                        break
                    for m in got:
                        receipts.append(str(m["ReceiptHandle"]))
                        seen.setdefault(str(m["MessageId"]), _message(m))
            finally:
                self._show_again(url, receipts)
        messages = sorted(seen.values(), key=lambda m: m.sent_at or datetime.max.replace(tzinfo=UTC))
        return QueuePeek(queue=self.label, waiting=waiting, messages=tuple(messages[:limit]),
                         in_flight=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)))

    def _receive(self, url: str, count: int, *, hide_s: int, everything: bool) -> list[dict[str, Any]]:
        system = ["All"] if everything else ["ApproximateReceiveCount", "SentTimestamp"]
        extra = {"MessageAttributeNames": ["All"]} if everything else {}
        answer = self._sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=count, VisibilityTimeout=hide_s,
                                             WaitTimeSeconds=self.wait_s, MessageSystemAttributeNames=system,
                                             **extra)
        return list(answer.get("Messages", []))

    def _show_again(self, url: str, receipts: list[str]) -> None:
        """Best effort: what is not made visible now shows again when its visibility timeout ends."""
        for chunk in _chunks(receipts, BATCH):
            try:
                self._sqs().change_message_visibility_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0} for i, r in enumerate(chunk)])
            except (ClientError, BotoCoreError):
                log.warning("%s: could not make %d message(s) visible again; they will be after their visibility "
                            "timeout", self.subject, len(chunk), exc_info=True)

    # --- plan ----------------------------------------------------------------------------------------------
    def plan_redrive(self, *, max_messages: int | None) -> RedrivePlan:
        with translated(self.subject):
            url = self._url()
            attrs = self._attributes(url, "All")        # RedriveAllowPolicy by name is unknown to moto 5.2.5
            source = self._source(url, attrs.get("RedriveAllowPolicy"))
        waiting = int(attrs.get("ApproximateNumberOfMessages", 0))
        if waiting == 0:
            raise NotPossibleError(f"{self.subject} is empty: nothing to redrive")
        moving = "all of them" if max_messages is None or max_messages >= waiting else f"{max_messages} of them"
        return RedrivePlan(target=f"queue {self.label} → queue {queue_name(source)}",
                           current=f"{_count(waiting)} waiting in {self.label}",
                           desired=f"{moving} back in {queue_name(source)}",
                           queue_url=url, source_url=source, max_messages=max_messages)

    def _source(self, url: str, allow_policy: str | None) -> str:
        """The configured source; else the one queue whose RedrivePolicy names this one; else the one queue
        its RedriveAllowPolicy allows."""
        if self.source_url:
            return self.source_url
        sources = [str(u) for u in self._sqs().list_dead_letter_source_queues(QueueUrl=url).get("queueUrls", [])]
        if len(sources) == 1:
            return sources[0]
        if len(sources) > 1:
            names = ", ".join(queue_name(s) for s in sources[:5])
            raise NotPossibleError(f"{self.subject} is the dead-letter queue of {len(sources)} queues ({names}); "
                                   "list it under `queues:` with the `source_url` to redrive to")
        allowed = _allowed_sources(allow_policy)
        if len(allowed) == 1:
            account, name = allowed[0]
            return str(self._sqs().get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])
        raise NotPossibleError(f"{self.subject}: no source queue known to redrive to (no queue names it as its "
                               "dead-letter queue); list it under `queues:` with a `source_url`")

    # --- redrive -------------------------------------------------------------------------------------------
    def redrive(self, plan: RedrivePlan, *, progress: Progress) -> Outcome:
        if plan.max_messages is None:
            done = self._move_task(plan, progress)
            if done is not None:
                return done
        return self._move_batches(plan, progress)

    def _move_task(self, plan: RedrivePlan, progress: Progress) -> Outcome | None:
        """Move everything with an SQS message move task; None when this endpoint or queue pair has none."""
        source = queue_name(plan.source_url)
        with translated(self.subject):
            arn = self._attributes(plan.queue_url, "QueueArn")["QueueArn"]
            destination = self._attributes(plan.source_url, "QueueArn")["QueueArn"]
            try:
                before = self._newest_task(arn)
                handle = self._sqs().start_message_move_task(SourceArn=arn, DestinationArn=destination)["TaskHandle"]
            except ClientError as exc:
                code = code_of(exc)
                if code not in NO_MOVE_TASKS and not code.isdigit():
                    raise
                why = f"this SQS endpoint has no message move tasks (HTTP {code})" if code.isdigit() else \
                    f"SQS would not start a message move task ({code})"
                progress(f"{why[0].upper()}{why[1:]}; moving the messages in batches instead.")
                return None
        progress(f"SQS is moving the messages from {self.label} to {source} (a message move task).")
        last: list[tuple[int, int]] = []

        def ended() -> dict[str, Any] | None:
            with translated(self.subject):
                task = self._newest_task(arn)
            # The newest task is ours once it carries our handle (while it runs) or is newer than the newest
            # before ours (once it ended); until then the list may not show ours yet.
            ours = task is not None and (task.get("TaskHandle") == handle or before is None
                                         or task.get("StartedTimestamp") != before.get("StartedTimestamp"))
            if task is None or not ours:
                task = {"Status": "RUNNING"}
            counts = _task_counts(task)
            if task.get("Status") not in TASK_ENDED and counts[1] and counts not in last:
                last.append(counts)
                progress(f"moved {counts[0]}/{counts[1]}")
            return task if task.get("Status") in TASK_ENDED else None

        task = self.poller.until(ended, timeout_s=self.timeout.total_seconds())
        if task is None:
            moved, total = last[-1] if last else (0, 0)
            return Outcome(False, f"the move task still runs after {humanize(self.timeout)} (moved {moved} of "
                                  f"{total} so far); it goes on in AWS, `aws sqs cancel-message-move-task` stops it")
        moved, total = _task_counts(task)
        if task.get("Status") == "COMPLETED":
            return Outcome(True, f"moved {moved} of {total} message(s) from {self.label} to {source}",
                           {"moved": str(moved), "total": str(total)})
        reason = str(task.get("FailureReason") or "no reason given")[:200]
        return Outcome(False, f"the move task ended {task.get('Status')} ({reason}) after moving {moved} of {total} "
                              "message(s); the rest are still in the dead-letter queue", {"moved": str(moved)})

    def _newest_task(self, arn: str) -> dict[str, Any] | None:
        found = self._sqs().list_message_move_tasks(SourceArn=arn, MaxResults=1).get("Results", [])
        return dict(found[0]) if found else None

    def _move_batches(self, plan: RedrivePlan, progress: Progress) -> Outcome:
        """Receive, send to the source, delete what the source accepted; batch by batch until the limit (or
        what was waiting when it started, so messages that fail again meanwhile do not go round in circles)."""
        source = queue_name(plan.source_url)
        with translated(self.subject):
            waiting = int(self._attributes(plan.queue_url, "ApproximateNumberOfMessages")
                          .get("ApproximateNumberOfMessages", 0))
        limit = waiting if plan.max_messages is None else plan.max_messages
        deadline = self.monotonic() + self.timeout.total_seconds()
        moved = twice = shown = 0
        problem = ""
        while moved < limit:
            if self.monotonic() >= deadline:
                problem = f"stopped after {humanize(self.timeout)}"
                break
            try:
                batch = self._move_one_batch(plan, min(BATCH, limit - moved))
            except AdapterError as exc:
                problem = str(exc)
                break
            moved, twice = moved + batch.sent, twice + batch.twice
            if batch.error:
                problem = batch.error
                break
            if not batch.sent and not batch.refused:
                break                                   # the queue is empty (or the rest are in flight)
            if batch.refused:
                problem = f"queue {source} refused {_count(batch.refused)} ({batch.refusal}); they are still in " \
                          f"{self.label}"
                break
            if math.floor(moved * 10 / limit) > shown:  # a line per tenth of the way
                shown = math.floor(moved * 10 / limit)
                progress(f"moved {moved}/{limit}")
        summary = f"moved {moved} of {limit} message(s) from {self.label} to {source}"
        if twice:
            summary += (f"; {twice} of them could not be deleted from {self.label} and will show there again "
                        "(redriving them again would send them twice)")
        if problem:
            return Outcome(False, f"{summary}, then: {problem}", {"moved": str(moved)})
        with translated(self.subject):
            left = int(self._attributes(plan.queue_url, "ApproximateNumberOfMessages")
                       .get("ApproximateNumberOfMessages", 0))
        return Outcome(True, f"{summary}; {_count(left)} left in {self.label}", {"moved": str(moved)})

    def _move_one_batch(self, plan: RedrivePlan, count: int) -> _Batch:
        """One receive, sent on and deleted."""
        fifo = plan.source_url.endswith(".fifo")
        with translated(self.subject):
            got = self._receive(plan.queue_url, count, hide_s=MOVE_HIDE_S, everything=True)
        received = [_to_send(m, fifo=fifo) for m in got]
        sent: list[_Received] = []
        refusal = error = ""
        try:
            with translated(f"queue {queue_name(plan.source_url)}"):
                for group in _by_size(received):
                    answer = self._sqs().send_message_batch(QueueUrl=plan.source_url, Entries=[
                        {"Id": str(i), **r.entry} for i, r in enumerate(group)])
                    ok = {int(s["Id"]) for s in answer.get("Successful", [])}
                    sent += [r for i, r in enumerate(group) if i in ok]
                    failed = answer.get("Failed", [])
                    if failed:
                        refusal = str(failed[0].get("Code", "?"))[:60]
                        break
        except AdapterError as exc:
            error = str(exc)
        # What was not sent shows in the dead-letter queue again now (not after MOVE_HIDE_S); what was sent
        # leaves it, even when a later send of the batch failed.
        kept = {r.receipt for r in sent}
        self._show_again(plan.queue_url, [r.receipt for r in received if r.receipt not in kept])
        twice = self._delete(plan.queue_url, [r.receipt for r in sent])
        return _Batch(sent=len(sent), refused=0 if error else len(received) - len(sent), twice=twice,
                      refusal=refusal, error=error)

    def _delete(self, url: str, receipts: list[str]) -> int:
        """Delete what the source accepted; the number not deleted (they will show again: duplicates)."""
        left = 0
        for chunk in _chunks(receipts, BATCH):
            try:
                answer = self._sqs().delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(chunk)])
                left += len(answer.get("Failed", []))
            except (ClientError, BotoCoreError):
                log.warning("%s: could not delete %d message(s) already sent to the source", self.subject, len(chunk),
                            exc_info=True)
                left += len(chunk)
        return left


def _message(m: dict[str, Any]) -> QueueMessage:
    attrs = m.get("Attributes", {})
    sent = attrs.get("SentTimestamp")
    return QueueMessage(message_id=str(m["MessageId"]), body=str(m.get("Body", "")),
                        receive_count=int(attrs.get("ApproximateReceiveCount", 0)),
                        sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None)


def _to_send(m: dict[str, Any], *, fifo: bool) -> _Received:
    """The SendMessageBatch entry that sends `m` on as it was: body, message attributes, FIFO group and id."""
    entry: dict[str, Any] = {"MessageBody": str(m.get("Body", ""))}
    attributes = {name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
                  for name, value in m.get("MessageAttributes", {}).items()}
    if attributes:
        entry["MessageAttributes"] = attributes
    if fifo:
        system = m.get("Attributes", {})
        entry["MessageGroupId"] = system.get("MessageGroupId") or "opsbot-redrive"
        entry["MessageDeduplicationId"] = system.get("MessageDeduplicationId") or str(m["MessageId"])
    size = len(entry["MessageBody"].encode()) + sum(
        len(n) + len(str(v.get("DataType", ""))) + len(str(v.get("StringValue") or v.get("BinaryValue") or ""))
        for n, v in attributes.items())
    return _Received(receipt=str(m["ReceiptHandle"]), entry=entry, size=size)


def _by_size(received: list[_Received]) -> Iterator[list[_Received]]:
    """Send batches of at most BATCH messages and BATCH_BYTES of payload (a larger message goes alone)."""
    group: list[_Received] = []
    for r in received:
        if group and (len(group) == BATCH or sum(g.size for g in group) + r.size > BATCH_BYTES):
            yield group
            group = []
        group.append(r)
    if group:
        yield group


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _allowed_sources(policy: str | None) -> list[tuple[str, str]]:
    """(account, queue name) of each queue a RedriveAllowPolicy `byQueue` names."""
    try:
        parsed = json.loads(policy or "{}")
    except ValueError:
        return []
    if not isinstance(parsed, dict) or parsed.get("redrivePermission") != "byQueue":
        return []
    arns = [a.split(":") for a in parsed.get("sourceQueueArns", []) if isinstance(a, str)]
    return [(parts[4], parts[5]) for parts in arns if len(parts) == 6]


def _task_counts(task: dict[str, Any]) -> tuple[int, int]:
    return int(task.get("ApproximateNumberOfMessagesMoved", 0)), int(task.get("ApproximateNumberOfMessagesToMove", 0))


def _count(n: int) -> str:
    return f"{n} message" if n == 1 else f"{n} messages"
