"""Checklist check kinds for the data stores behind a service: a Redis server (`redis`), what a PostgreSQL
server is busy with (`postgres_activity`), and Kubernetes volumes (`kubernetes_pvc`).

Each threshold pair is `*_warn_*` / `*_fail_*`: a value past the warn line is a warning, past the fail line a
failure. A percentage is of the limit the server itself reports (maxmemory, maxclients, max_connections).
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import Field, HttpUrl, field_validator, model_validator

from bot.config.secrets import ENV_NAME, SecretRef
from bot.config.values import Duration, PositiveDuration, Strict, bounded

LABEL_KEY = (r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"     # an optional DNS prefix/
             r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"
DNS_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


def _warn_then_fail(what: str, warn: float | None, fail: float | None, *, below: bool = False) -> None:
    """A warn line the fail line comes after: above it for "too much", below it for "too little"."""
    if warn is None or fail is None:
        return
    if (fail > warn) if below else (fail < warn):
        raise ValueError(f"{what}_fail_pct ({fail:g}) must be {'at or below' if below else 'at or above'} "
                         f"{what}_warn_pct ({warn:g})")


class RedisCheck(Strict):
    """A Redis server answers PING, and its memory, cache hit rate and client connections are within limits."""

    check: Literal["redis"]
    url: SecretRef                                      # redis://[user:password@]host:6379/0, or rediss:// for TLS
    name: str | None = Field(None, min_length=1, max_length=63)     # shown in the report: "Redis cache-prod"
    memory_warn_pct: float = Field(80, gt=0, le=100)    # of maxmemory (of the machine's memory when it is unset)
    memory_fail_pct: float = Field(90, gt=0, le=100)
    hit_rate_warn_pct: float | None = Field(80, ge=0, le=100)   # a hit rate below this warns; null: not judged
    hit_rate_fail_pct: float | None = Field(None, ge=0, le=100)
    min_lookups: int = Field(1000, ge=1)                # fewer lookups than this since the stats began: not judged
    clients_warn_pct: float = Field(80, gt=0, le=100)   # connected clients, of maxclients
    clients_fail_pct: float = Field(90, gt=0, le=100)
    timeout: Duration = timedelta(seconds=3)

    @field_validator("timeout")
    @classmethod
    def _sane_timeout(cls, value: timedelta) -> timedelta:
        return bounded(value, low=timedelta(milliseconds=100), high=timedelta(minutes=1))

    @model_validator(mode="after")
    def _ordered(self) -> RedisCheck:
        _warn_then_fail("memory", self.memory_warn_pct, self.memory_fail_pct)
        _warn_then_fail("clients", self.clients_warn_pct, self.clients_fail_pct)
        _warn_then_fail("hit_rate", self.hit_rate_warn_pct, self.hit_rate_fail_pct, below=True)
        return self

    @property
    def label(self) -> str:
        return f"Redis {self.name}" if self.name else f"Redis at {where(self.url)}"


class PostgresActivityCheck(Strict):
    """What a PostgreSQL server is busy with: queries running too long, connections by state against
    max_connections, and (optionally) the slowest statements from pg_stat_statements."""

    check: Literal["postgres_activity"]
    url: SecretRef | None = None                        # a SQLAlchemy or libpq URL: postgresql://user:pw@host/db
    url_env: str | None = Field(None, pattern=ENV_NAME)     # or, as the `sql` check, the variable holding it
    name: str | None = Field(None, min_length=1, max_length=63)
    long_query_warn: PositiveDuration = timedelta(minutes=1)    # an active query running longer warns
    long_query_fail: PositiveDuration = timedelta(minutes=5)
    connections_warn_pct: float = Field(80, gt=0, le=100)   # client connections, of max_connections
    connections_fail_pct: float = Field(90, gt=0, le=100)
    top_statements: int = Field(0, ge=0, le=20)         # list the N slowest statements (mean time); 0: don't
    timeout: Duration = timedelta(seconds=5)

    @field_validator("timeout")
    @classmethod
    def _sane_timeout(cls, value: timedelta) -> timedelta:
        # libpq (and so psycopg) waits at least 2 s for a connection, whatever it is told.
        return bounded(value, low=timedelta(seconds=2), high=timedelta(minutes=1))

    @model_validator(mode="after")
    def _one_url_and_ordered(self) -> PostgresActivityCheck:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give `url: {secret: ENV_VAR}` (or `{file: path}`) or `url_env: ENV_VAR`"
                             + (", not both" if self.url is not None else ""))
        if self.long_query_fail < self.long_query_warn:
            raise ValueError("long_query_fail must not be shorter than long_query_warn")
        _warn_then_fail("connections", self.connections_warn_pct, self.connections_fail_pct)
        return self

    @property
    def secret(self) -> SecretRef:
        """Where the URL is, whichever way it was named."""
        return self.url if self.url is not None else SecretRef(secret=self.url_env)

    @property
    def label(self) -> str:
        return f"PostgreSQL activity of {self.name}" if self.name else \
            f"PostgreSQL activity at {where(self.secret)}"


class PvcCheck(Strict):
    """PersistentVolumeClaims of a namespace (one by name, those matching labels, or all) are Bound, with their
    capacity, and how full they are when Prometheus has the kubelet's volume stats."""

    check: Literal["kubernetes_pvc"]
    namespace: str = Field(default="default", min_length=1, max_length=63)
    name: str | None = Field(default=None, min_length=1, max_length=253, pattern=DNS_NAME)
    selector: dict[str, str] = Field(default_factory=dict, max_length=20)    # labels every claim must carry
    used_warn_pct: float = Field(80, gt=0, le=100)
    used_fail_pct: float = Field(90, gt=0, le=100)
    prometheus_url: HttpUrl | None = None               # reads kubelet_volume_stats_* from it; else usage unknown
    pending_grace: Duration = timedelta(minutes=10)     # a claim Pending for less than this is not yet a warning

    @model_validator(mode="after")
    def _name_or_selector(self) -> PvcCheck:
        if self.name is not None and self.selector:
            raise ValueError("give `name:` (one claim) or `selector:` (labels), not both")
        for key, value in self.selector.items():
            if not re.match(LABEL_KEY, key) or len(key) > 317:
                raise ValueError(f"selector: {key!r} is not a label name")
            if not re.match(LABEL_VALUE, value) or len(value) > 63:
                raise ValueError(f"selector: {value!r} (for {key}) is not a label value")
        _warn_then_fail("used", self.used_warn_pct, self.used_fail_pct)
        return self

    @property
    def selector_text(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.selector.items()))

    @property
    def label(self) -> str:
        if self.name is not None:
            return f"volume claim {self.name} in {self.namespace}"
        if self.selector:
            return f"volume claims {self.selector_text} in {self.namespace}"
        return f"volume claims in {self.namespace}"


def where(ref: SecretRef) -> str:
    """Where a secret is, for a label: `$ENV_VAR` or the file's path (never its value)."""
    return f"${ref.secret}" if ref.secret else str(ref.file)
