"""CloudWatch alarms that belong to a service: any in ALARM makes it down."""
from __future__ import annotations

from collections.abc import Sequence

from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import Finding, Health


class CloudWatchAlarms:
    def __init__(self, names: Sequence[str], clients: AwsClients) -> None:
        self.names, self.clients = list(names), clients

    @property
    def timeout_s(self) -> float:
        return self.clients.timeout_s

    def check(self) -> Sequence[Finding]:
        with translated("cloudwatch alarms"):
            found = self.clients.client("cloudwatch").describe_alarms(AlarmNames=self.names)["MetricAlarms"]
        by_name = {a["AlarmName"]: a for a in found}
        firing = [f"{n}: {_short(by_name[n].get('StateReason', ''))}" for n in self.names
                  if n in by_name and by_name[n]["StateValue"] == "ALARM"]
        unsure = [n for n in self.names if n in by_name and by_name[n]["StateValue"] == "INSUFFICIENT_DATA"]
        missing = [n for n in self.names if n not in by_name]
        if firing:
            return [Finding("cloudwatch", "alarms", Health.DOWN, f"{len(firing)} in ALARM: " + "; ".join(firing))]
        problems = [f"{n} has insufficient data" for n in unsure] + [f"alarm {n} not found" for n in missing]
        if problems:
            return [Finding("cloudwatch", "alarms", Health.DEGRADED, "; ".join(problems))]
        return [Finding("cloudwatch", "alarms", Health.OK, f"{len(self.names)} alarm(s) OK")]


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
