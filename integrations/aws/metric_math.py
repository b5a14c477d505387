"""A checklist's `metric` with `math:`: a ratio of two CloudWatch metrics as a percentage (`ratio`, errors per
invocation), and an RDS instance's free storage as a percentage of its allocated storage (`free_storage`).

The ratio is computed here from two reads of the window, not with a CloudWatch metric-math expression: it is
the ratio of the window's totals (errors over the hour / invocations over the hour), not an average of
per-minute ratios, and it reads the same under any CloudWatch (moto does not evaluate math expressions)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.clock import Clock, humanize
from bot.config.checklists import MetricCheck
from integrations.aws import AwsClients
from integrations.aws.cloudwatch import judge, number, read_statistic
from integrations.aws.errors import translated
from integrations.base import Finding, Health

GIB = 1024**3
STAT_WORDS = {"Minimum": "lowest", "Maximum": "highest", "Average": "average"}


def percent(value: float) -> str:
    """12.0 -> '12%', 0.41666 -> '0.417%', 31.25 -> '31.2%'."""
    return f"{number(value if abs(value) < 1 else round(value, 1))}%"


class CloudWatchMetricRatio:
    """StatusSource: 100 × metric / `divide_by` over the last `period`, compared with the bounds (in per cent).

    No denominator in the window (nothing was invoked) is a warning: there is no rate to judge."""

    def __init__(self, cfg: MetricCheck, clients: AwsClients, *, clock: Clock) -> None:
        assert cfg.math == "ratio" and cfg.divide_by is not None          # config validation guarantees it
        self.cfg, self.clients, self.clock = cfg, clients, clock
        self.subject = f"metric {cfg.label}"

    @property
    def timeout_s(self) -> float:
        return 2 * self.clients.timeout_s          # two reads: the metric, then what it is divided by

    def check(self) -> Sequence[Finding]:
        cfg, other = self.cfg, self.cfg.divide_by
        assert cfg.namespace is not None and cfg.name is not None and cfg.stat is not None and other is not None
        end = self.clock()
        with translated(self.subject):
            top = read_statistic(self.clients, namespace=cfg.namespace, name=cfg.name, dimensions=cfg.dimensions,
                                 stat=cfg.stat, period=cfg.period, end=end)
            bottom = read_statistic(
                self.clients, namespace=other.namespace or cfg.namespace, name=other.name,
                dimensions=cfg.dimensions if other.dimensions is None else other.dimensions,
                stat=other.stat or cfg.stat, period=cfg.period, end=end)
        window = humanize(cfg.period)
        numerator = top[0] if top is not None else 0.0      # no Errors datapoints: nothing went wrong
        if bottom is None or bottom[0] == 0:
            seen = f"{number(numerator)} {cfg.name} but " if numerator else ""
            return [Finding("cloudwatch", self.subject, Health.DEGRADED,
                            f"{seen}no {other.name} in the last {window}: no rate to judge")]
        denominator = bottom[0]
        value = 100 * numerator / denominator
        text = (f"{cfg.name} / {other.name} over the last {window}: {percent(value)} "
                f"({number(numerator)} of {number(denominator)})")
        health, beyond = judge(value, cfg)
        return [Finding("cloudwatch", self.subject, health, text + beyond)]


class RdsFreeStorage:
    """StatusSource: an RDS instance's FreeStorageSpace (its lowest over `period`, unless `stat` says otherwise)
    as a percentage of its AllocatedStorage, compared with the bounds (in per cent).

    Aurora is a warning: its storage grows on its own, and AllocatedStorage means nothing there."""

    def __init__(self, cfg: MetricCheck, clients: AwsClients, *, clock: Clock) -> None:
        assert cfg.math == "free_storage" and cfg.db_instance is not None   # config validation guarantees it
        self.cfg, self.clients, self.clock = cfg, clients, clock
        self.instance = cfg.db_instance
        self.subject = f"rds {cfg.db_instance} free storage"

    @property
    def timeout_s(self) -> float:
        return 2 * self.clients.timeout_s          # the instance, then its metric

    def check(self) -> Sequence[Finding]:
        cfg, stat = self.cfg, self.cfg.stat or "Minimum"
        with translated(self.subject):
            found: dict[str, Any] = self.clients.client("rds").describe_db_instances(
                DBInstanceIdentifier=self.instance)["DBInstances"][0]
        engine, allocated = str(found.get("Engine") or ""), int(found.get("AllocatedStorage") or 0)
        if engine.startswith("aurora"):
            return [Finding("rds", self.subject, Health.DEGRADED,
                            f"{engine} storage grows on its own: free storage as a share of allocated storage "
                            "does not apply (watch FreeLocalStorage with a plain metric check)")]
        if allocated <= 0:
            return [Finding("rds", self.subject, Health.DEGRADED, "RDS reports no allocated storage")]
        window = humanize(cfg.period)
        with translated(self.subject):
            reading = read_statistic(self.clients, namespace="AWS/RDS", name="FreeStorageSpace",
                                     dimensions={"DBInstanceIdentifier": self.instance}, stat=stat,
                                     period=cfg.period, end=self.clock())
        if reading is None:
            return [Finding("rds", self.subject, Health.DEGRADED,
                            f"no FreeStorageSpace datapoints in the last {window}")]
        free = reading[0]
        value = 100 * free / (allocated * GIB)
        text = (f"{percent(value)} free: {free / GIB:.1f} GiB of {allocated} GiB "
                f"({STAT_WORDS.get(stat, stat)} in the last {window})")
        details = {}
        ceiling = int(found.get("MaxAllocatedStorage") or 0)
        if ceiling > allocated:
            details["autoscaling"] = f"storage autoscaling may grow it to {ceiling} GiB"
        health, beyond = judge(value, cfg)
        return [Finding("rds", self.subject, health, text + beyond, details=details)]
