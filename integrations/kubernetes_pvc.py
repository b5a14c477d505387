"""PersistentVolumeClaims (a checklist's `kubernetes_pvc`): Bound, Pending or Lost, their capacity, and how
full they are when a Prometheus that scrapes the kubelets is configured.

The Kubernetes API itself does not say how full a volume is (only the kubelet knows, and the API server
does not pass it on), so without `prometheus_url` the usage is reported as unknown rather than guessed.
With it, `kubelet_volume_stats_used_bytes` and `kubelet_volume_stats_capacity_bytes` of the namespace are
read in two instant queries. Labels of `selector` are matched here as well as sent to the API server.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import httpx
from kubernetes import client

from bot.clock import Clock, humanize, utcnow
from bot.config.data_checks import PvcCheck
from integrations.base import Finding, Health
from integrations.kubernetes import _Api
from integrations.units import size

SOURCE = "kubernetes"
USED, CAPACITY = "kubelet_volume_stats_used_bytes", "kubelet_volume_stats_capacity_bytes"


class UsageUnknown(Exception):
    """Prometheus could not say how full the claims are; str() says why, in a few words."""


class KubernetesPvcs:
    """StatusSource: one finding per claim, its name first. Down: Lost, or used at or past `used_fail_pct`.
    Degraded: Pending longer than `pending_grace`, being deleted, used past `used_warn_pct`, no claim
    matching, or Prometheus configured but not answering."""

    def __init__(self, cfg: PvcCheck, api: client.ApiClient, *, timeout_s: float,
                 http: Callable[[], httpx.Client] | None = None, clock: Clock = utcnow) -> None:
        self.cfg, self.k, self.http, self.clock = cfg, _Api(api, timeout_s), http, clock
        self.subject = cfg.label

    @property
    def timeout_s(self) -> float:
        return self.k.timeout_s * (3 if self.cfg.prometheus_url else 1)

    def check(self) -> Sequence[Finding]:
        claims = self._claims()
        if not claims:
            labelled = f" labelled {self.cfg.selector_text}" if self.cfg.selector else ""
            return [Finding(SOURCE, self.subject, Health.DEGRADED,
                            f"no volume claims{labelled} in namespace {self.cfg.namespace} (is the name right?)")]
        usage: dict[str, tuple[float, float]] = {}
        findings = []
        if self.cfg.prometheus_url is not None:
            try:
                usage = self._usage()
            except UsageUnknown as exc:
                findings.append(Finding(SOURCE, self.subject, Health.DEGRADED, f"usage unknown: {exc}"))
        now = self.clock()
        return [self._claim(c, usage, now) for c in claims] + findings

    def _claims(self) -> list[Any]:
        if self.cfg.name is not None:
            return [self.k.call(self.subject, self.k.core.read_namespaced_persistent_volume_claim, self.cfg.name,
                                self.cfg.namespace)]
        selector = {"label_selector": self.cfg.selector_text} if self.cfg.selector else {}
        items = self.k.call(self.subject, self.k.core.list_namespaced_persistent_volume_claim, self.cfg.namespace,
                            **selector).items
        wanted = self.cfg.selector.items()
        return sorted((c for c in items if wanted <= (c.metadata.labels or {}).items()),
                      key=lambda c: str(c.metadata.name))

    def _claim(self, claim: Any, usage: dict[str, tuple[float, float]], now: datetime) -> Finding:
        name = str(claim.metadata.name)
        phase = (claim.status.phase if claim.status else None) or "Unknown"
        capacity = ((claim.status.capacity or {}) if claim.status else {}).get("storage")
        said = f"{name}: {phase}" + (f", {capacity}" if capacity else "")
        if claim.metadata.deletion_timestamp is not None:
            return self._finding(Health.DEGRADED, f"{said}, being deleted (still in use by a pod?)")
        if phase == "Lost":
            return self._finding(Health.DOWN, f"{said}: its volume is gone")
        if phase == "Pending":
            created = claim.metadata.creation_timestamp
            age = now - created if created is not None else None
            waited = f" for {humanize(age)}" if age is not None else ""
            late = age is None or age >= self.cfg.pending_grace
            return self._finding(Health.DEGRADED if late else Health.OK,
                                 f"{name}: Pending{waited} (not bound to a volume yet)")
        if phase != "Bound":
            return self._finding(Health.DEGRADED, said)
        resizing = _resizing(claim)
        if self.cfg.prometheus_url is None:
            return self._finding(Health.OK, f"{said}; usage unknown (no metrics){resizing}")
        if name not in usage:
            return self._finding(Health.OK, f"{said}; usage unknown (Prometheus has no kubelet volume stats for "
                                            f"it; is it mounted?){resizing}")
        used, total = usage[name]
        pct = 100.0 * used / total if total else 100.0
        text = f"{said}; {pct:.0f}% used ({size(used)} of {size(total)}){resizing}"
        warn, fail = self.cfg.used_warn_pct, self.cfg.used_fail_pct
        if pct >= warn:
            return self._finding(Health.DOWN if pct >= fail else Health.DEGRADED,
                                 f"{text}; warn at {warn:g}%, fail at {fail:g}%")
        return self._finding(Health.OK, text)

    def _finding(self, health: Health, summary: str) -> Finding:
        return Finding(SOURCE, self.subject, health, summary)

    def _usage(self) -> dict[str, tuple[float, float]]:
        """Used and capacity bytes by claim name, from the kubelet's volume stats in Prometheus."""
        used, total = self._query(USED), self._query(CAPACITY)
        return {name: (used[name], total[name]) for name in used.keys() & total.keys()}

    def _query(self, metric: str) -> dict[str, float]:
        assert self.cfg.prometheus_url is not None and self.http is not None
        base = str(self.cfg.prometheus_url).rstrip("/")
        promql = f'max by (persistentvolumeclaim) ({metric}{{namespace="{self.cfg.namespace}"}})'
        try:
            response = self.http().get(f"{base}/api/v1/query", params={"query": promql},
                                       timeout=self.k.timeout_s)
        except httpx.TimeoutException:
            raise UsageUnknown(f"Prometheus did not answer within {self.k.timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            raise UsageUnknown(f"Prometheus could not be reached ({type(exc).__name__})") from None
        try:
            body = response.json()
            results = body["data"]["result"] if body.get("status") == "success" else None
            if response.status_code != 200 or not isinstance(results, list):
                raise UsageUnknown(f"Prometheus answered HTTP {response.status_code}: "
                                   f"{str(body.get('error') or 'no query result')[:120]}")
            return {str(r["metric"]["persistentvolumeclaim"]): float(r["value"][1]) for r in results
                    if "persistentvolumeclaim" in r["metric"]}
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            raise UsageUnknown(f"Prometheus answered HTTP {response.status_code} with something other than a "
                               "query result") from None


def _resizing(claim: Any) -> str:
    conditions = (claim.status.conditions if claim.status else None) or []
    kinds = [c.type for c in conditions if c.type in ("Resizing", "FileSystemResizePending") and c.status == "True"]
    return f"; {kinds[0]} (being expanded)" if kinds else ""
