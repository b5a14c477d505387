"""SQS dead-letter queues on moto (tests/fakes/aws.py): a source queue whose RedrivePolicy names its DLQ, messages
in the DLQ, and reading what each queue holds."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.fakes.aws import Aws


@dataclass
class Queues:
    aws: Aws

    @property
    def sqs(self) -> Any:
        return self.aws.seed("sqs")

    def create(self, name: str, **attributes: str) -> str:
        if name.endswith(".fifo"):
            attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "false", **attributes}
        return str(self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])

    def arn(self, url: str) -> str:
        return str(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    def pair(self, source: str = "orders", dlq: str = "orders-dlq", *, linked: bool = True) -> tuple[str, str]:
        """(source URL, DLQ URL); with `linked`, the source's RedrivePolicy names the DLQ (as AWS has it)."""
        dlq_url = self.create(dlq)
        policy = {"RedrivePolicy": json.dumps({"deadLetterTargetArn": self.arn(dlq_url), "maxReceiveCount": 3})}
        return self.create(source, **(policy if linked else {})), dlq_url

    def put(self, url: str, *bodies: str, **extra: Any) -> None:
        for i, body in enumerate(bodies):
            fifo = {"MessageGroupId": f"group-{i % 2}", "MessageDeduplicationId": f"dedup-{i}"} \
                if url.endswith(".fifo") else {}
            self.sqs.send_message(QueueUrl=url, MessageBody=body, **fifo, **extra)

    def fill(self, url: str, count: int) -> None:
        self.put(url, *(json.dumps({"failed_event": i}) for i in range(count)))

    def depth(self, url: str) -> tuple[int, int]:
        """(visible, in flight)."""
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Every visible message (received, so hidden afterwards), with its attributes."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                           MessageAttributeNames=["All"],
                                           MessageSystemAttributeNames=["All"]).get("Messages", [])
            if not got:
                return out
            out += got
