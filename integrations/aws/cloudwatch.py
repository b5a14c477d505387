"""CloudWatch alarms that belong to a service: any in ALARM makes it down."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import Finding, Health

PAGE = 100          # DescribeAlarms takes at most 100 names per request
REASON_CHARS = 100


class CloudWatchAlarms:
    """StatusSource: the named metric or composite alarms, as one finding."""

    def __init__(self, names: Sequence[str], clients: AwsClients) -> None:
        self.names, self.clients = list(names), clients
        self.subject = f"alarm {self.names[0]}" if len(self.names) == 1 else "alarms " + ", ".join(self.names)

    @property
    def timeout_s(self) -> float:
        return self.clients.timeout_s

    def check(self) -> Sequence[Finding]:
        found = self._describe()
        firing = [n for n in self.names if n in found and found[n]["StateValue"] == "ALARM"]
        unsure = [n for n in self.names if n in found and found[n]["StateValue"] == "INSUFFICIENT_DATA"]
        missing = [n for n in self.names if n not in found]
        reasons = {n: str(found[n].get("StateReason", "")) for n in firing + unsure}
        problems = [f"{n} in ALARM: {_short(reasons[n])}" for n in firing] + \
                   [f"{n} has insufficient data" for n in unsure] + [f"alarm {n} not found" for n in missing]
        if not problems:
            return [Finding("cloudwatch", self.subject, Health.OK, f"{len(self.names)} alarm(s) OK")]
        health = Health.DOWN if firing else Health.DEGRADED
        return [Finding("cloudwatch", self.subject, health, "; ".join(problems), details=reasons)]

    def _describe(self) -> dict[str, dict[str, Any]]:
        """Alarm name -> the alarm, for those of our names that exist."""
        found: dict[str, dict[str, Any]] = {}
        with translated(self.subject):
            paginator = self.clients.client("cloudwatch").get_paginator("describe_alarms")
            for start in range(0, len(self.names), PAGE):
                pages = paginator.paginate(AlarmNames=self.names[start:start + PAGE],
                                           AlarmTypes=["MetricAlarm", "CompositeAlarm"])
                for page in pages:
                    for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                        found[alarm["AlarmName"]] = alarm
        return found


def _short(text: str, limit: int = REASON_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
