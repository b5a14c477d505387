"""A dead-letter queue: messages waiting there are work that failed and nobody has looked at yet."""
from __future__ import annotations

from collections.abc import Sequence

from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import Finding, Health


class SqsDeadLetterQueue:
    """StatusSource: an empty DLQ is OK, any visible message makes the service degraded."""

    def __init__(self, queue_name: str, clients: AwsClients) -> None:
        self.queue_name, self.clients = queue_name, clients
        self.subject = f"queue {queue_name}"

    @property
    def timeout_s(self) -> float:
        return 2 * self.clients.timeout_s          # two calls: queue URL, then attributes

    def check(self) -> Sequence[Finding]:
        with translated(self.subject):
            sqs = self.clients.client("sqs")
            url = sqs.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        waiting = int(attrs.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))
        if waiting:
            noun = "message" if waiting == 1 else "messages"
            return [Finding("sqs", self.subject, Health.DEGRADED, f"{waiting} {noun} waiting in the DLQ")]
        return [Finding("sqs", self.subject, Health.OK, "DLQ empty")]
