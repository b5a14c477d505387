"""CloudWatch: a service's named alarms, every alarm in ALARM (a checklist's `cloudwatch_alarms`), and one
metric's statistic over a window (`metric`). Any alarm in ALARM makes its subject down."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock, humanize
from bot.config.checklists import CloudWatchAlarmsCheck, MetricCheck
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


ALARM_PAGES = 3     # 100 alarms a page: beyond 300 alarms firing, the count is "at least"
ALARMS_NAMED = 5    # alarm names in the summary; the rest are counted


class CloudWatchAccountAlarms:
    """StatusSource: every alarm of the account in ALARM (or those whose name starts with `prefix`)."""

    def __init__(self, cfg: CloudWatchAlarmsCheck, clients: AwsClients) -> None:
        self.prefix, self.clients = cfg.prefix, clients
        self.subject = f"alarms {cfg.prefix}*" if cfg.prefix else "all alarms"

    @property
    def timeout_s(self) -> float:
        return ALARM_PAGES * self.clients.timeout_s

    def check(self) -> Sequence[Finding]:
        firing, complete = self._firing()
        starting = f" starting {self.prefix!r}" if self.prefix else ""
        if not firing:
            return [Finding("cloudwatch", self.subject, Health.OK, f"no alarms{starting} in ALARM")]
        names = sorted(str(a["AlarmName"]) for a in firing)
        shown = ", ".join(names[:ALARMS_NAMED]) + (f" and {len(names) - ALARMS_NAMED} more"
                                                   if len(names) > ALARMS_NAMED else "")
        count = f"{len(names)} alarm{'' if len(names) == 1 else 's'}"
        reasons = {str(a["AlarmName"]): _short(str(a.get("StateReason", "")))
                   for a in firing if a["AlarmName"] in names[:ALARMS_NAMED]}
        return [Finding("cloudwatch", self.subject, Health.DOWN,
                        f"{'' if complete else 'at least '}{count}{starting} in ALARM: {shown}", details=reasons)]

    def _firing(self) -> tuple[list[dict[str, Any]], bool]:
        """The alarms in ALARM, and whether that is all of them (False when we stopped paging)."""
        prefix = {"AlarmNamePrefix": self.prefix} if self.prefix else {}
        alarms: list[dict[str, Any]] = []
        with translated(self.subject):
            pages = self.clients.client("cloudwatch").get_paginator("describe_alarms").paginate(
                StateValue="ALARM", AlarmTypes=["MetricAlarm", "CompositeAlarm"], **prefix)
            for number, page in enumerate(pages, start=1):
                # Filtered again here: AWS applies StateValue and AlarmNamePrefix together, moto only one of them.
                alarms += [a for a in page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
                           if a.get("StateValue") == "ALARM" and str(a["AlarmName"]).startswith(self.prefix or "")]
                if number == ALARM_PAGES and page.get("NextToken"):
                    return alarms, False
        return alarms, True


MAX_DATAPOINTS = 1440           # GetMetricStatistics answers at most this many datapoints per request
ASKED_STATS = ["SampleCount", "Sum", "Minimum", "Maximum"]


class CloudWatchMetric:
    """StatusSource: one statistic of one metric over the last `period`, compared with `min`/`max`.

    The window ends at the injected clock's now. It is read in one-minute buckets (coarser for long
    periods) and combined here, so the window is the last `period` rather than CloudWatch's hour-aligned
    buckets; Average is Sum / SampleCount over the whole window."""

    def __init__(self, cfg: MetricCheck, clients: AwsClients, *, clock: Clock) -> None:
        self.cfg, self.clients, self.clock = cfg, clients, clock
        self.subject = f"metric {cfg.label}"

    @property
    def timeout_s(self) -> float:
        return self.clients.timeout_s

    def check(self) -> Sequence[Finding]:
        cfg = self.cfg
        assert cfg.namespace is not None and cfg.name is not None and cfg.stat is not None   # config validation
        with translated(self.subject):
            reading = read_statistic(self.clients, namespace=cfg.namespace, name=cfg.name, dimensions=cfg.dimensions,
                                     stat=cfg.stat, period=cfg.period, end=self.clock())
        window = humanize(cfg.period)
        if reading is None:
            return [Finding("cloudwatch", self.subject, Health.DEGRADED, f"no datapoints in the last {window}")]
        value, unit = reading
        text = f"{cfg.stat} over the last {window}: {number(value)}" + (f" {unit}" if unit not in ("", "None") else "")
        health, beyond = judge(value, cfg)
        return [Finding("cloudwatch", self.subject, health, text + beyond)]


def read_statistic(clients: AwsClients, *, namespace: str, name: str, dimensions: Mapping[str, str], stat: str,
                   period: timedelta, end: datetime) -> tuple[float, str] | None:
    """`stat` of one metric over the `period` before `end`, with its unit; None without datapoints.
    Raises botocore's errors: call it inside `translated()`."""
    answer = clients.client("cloudwatch").get_metric_statistics(
        Namespace=namespace, MetricName=name, Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=end - period, EndTime=end, Period=_bucket_seconds(period), Statistics=ASKED_STATS)
    points: list[dict[str, Any]] = answer.get("Datapoints", [])
    if not points:
        return None
    return combine(stat, points), str(points[0].get("Unit") or "")


def judge(value: float, cfg: MetricCheck) -> tuple[Health, str]:
    """The health of `value` against the check's bounds, and what to add to the summary when it is out of them."""
    pct = "%" if cfg.percent else ""
    if cfg.max is not None and value > cfg.max:
        return Health.DOWN, f", above max {number(cfg.max)}{pct}"
    if cfg.min is not None and value < cfg.min:
        return Health.DOWN, f", below min {number(cfg.min)}{pct}"
    if cfg.warn_max is not None and value > cfg.warn_max:
        return Health.DEGRADED, f", above warn_max {number(cfg.warn_max)}{pct}" + (
            f" (max {number(cfg.max)}{pct})" if cfg.max is not None else "")
    if cfg.warn_min is not None and value < cfg.warn_min:
        return Health.DEGRADED, f", below warn_min {number(cfg.warn_min)}{pct}" + (
            f" (min {number(cfg.min)}{pct})" if cfg.min is not None else "")
    return Health.OK, ""


def _bucket_seconds(period: timedelta) -> int:
    """The finest bucket (a whole number of minutes) that covers `period` in one request."""
    minutes = math.ceil(period.total_seconds() / MAX_DATAPOINTS / 60)
    return 60 * max(1, minutes)


def combine(stat: str, points: Sequence[Mapping[str, Any]]) -> float:
    """One statistic for the whole window from per-bucket SampleCount/Sum/Minimum/Maximum."""
    if stat == "Sum":
        return float(sum(p["Sum"] for p in points))
    if stat == "SampleCount":
        return float(sum(p["SampleCount"] for p in points))
    if stat == "Minimum":
        return float(min(p["Minimum"] for p in points))
    if stat == "Maximum":
        return float(max(p["Maximum"] for p in points))
    samples = sum(p["SampleCount"] for p in points)
    return float(sum(p["Sum"] for p in points) / samples) if samples else 0.0


def number(value: float) -> str:
    """3.0 -> '3', 2.5 -> '2.5', 0.12345 -> '0.123'."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}".rstrip("0").rstrip(".")
