"""A dead-letter queue: messages waiting there are work that failed and nobody has looked at."""
from __future__ import annotations

from collections.abc import Sequence

from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import Finding, Health


class SqsDeadLetterQueue:
    def __init__(self, queue_name: str, clients: AwsClients) -> None:
        self.queue_name, self.clients = queue_name, clients

    @property
    def timeout_s(self) -> float:
        return self.clients.timeout_s * 2

    def check(self) -> Sequence[Finding]:
        subject = f"dlq {self.queue_name}"
        sqs = self.clients.client("sqs")
        with translated(subject):
            url = sqs.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        waiting = int(attrs["Attributes"].get("ApproximateNumberOfMessages", 0))
        if waiting:
            return [Finding("sqs", subject, Health.DEGRADED, f"{waiting} message(s) waiting in the DLQ")]
        return [Finding("sqs", subject, Health.OK, "DLQ empty")]
