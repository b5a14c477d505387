"""A Redis server (a checklist's `redis`): PING, then one INFO for memory, cache hit rate and clients.

The URL is a secret read at check time (`url: {secret: ENV}`); it and its password are cut out of any
message shown. The client is made for one check and closed after it, without retries: a checklist run
must not wait three times the timeout for a server that is down. redis-py is imported only when a `redis`
check is first run (integrations.check_factory builds this lazily).
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote, unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoPermissionError
from redis.retry import Retry

from bot.config.data_checks import RedisCheck, where
from bot.config.secrets import SecretMissing
from integrations.base import AccessDeniedError, AdapterError, Finding, Health
from integrations.sql import REASON_CHARS, _first_line, _scrub
from integrations.units import size

SOURCE = "redis"


class RedisServer:
    """StatusSource. Down: no PONG (refused, no answer, loading), memory or clients at or past their fail
    line, hit rate below its fail line. Degraded: past a warn line. Raises AdapterError when the secret is
    unset or holds no Redis URL, AccessDeniedError when the server refuses the credentials."""

    def __init__(self, cfg: RedisCheck, *, environ: Mapping[str, str] | None = None) -> None:
        self.cfg, self.environ = cfg, environ
        self.subject = f"redis {cfg.name}" if cfg.name else f"redis at {where(cfg.url)}"

    @property
    def timeout_s(self) -> float:
        return 3 * self.cfg.timeout.total_seconds()         # connect, PING, INFO

    def check(self) -> Sequence[Finding]:
        try:
            url = self.cfg.url.reveal(self.environ)
        except SecretMissing as exc:
            raise AdapterError(f"{self.subject}: {exc}") from None
        secrets = _secrets(url)
        timeout = self.cfg.timeout.total_seconds()
        try:
            client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                          retry=Retry(NoBackoff(), 0), decode_responses=True,
                                          client_name="opsbot-check")
        except ValueError:
            # `from None`: the message may quote the URL.
            raise AdapterError(f"{self.subject}: the secret in {self.cfg.url} does not hold a Redis URL "
                               "(like redis://:password@host:6379/0)") from None
        started = time.monotonic()
        try:
            client.ping()
            took_ms = (time.monotonic() - started) * 1000
            info = cast(dict[str, Any], client.info())          # redis-py types it sync-or-async
            if "maxclients" not in info:                    # INFO reports it from Redis 7 on
                info["maxclients"] = _config_maxclients(client)
        except redis.RedisError as exc:
            return [self._failed(exc, secrets)]
        finally:
            client.close()
        return [self._ping(info, took_ms), self._memory(info), self._hit_rate(info), self._clients(info)]

    def _finding(self, health: Health, summary: str) -> Finding:
        return Finding(SOURCE, self.subject, health, summary)

    def _ping(self, info: Mapping[str, Any], took_ms: float) -> Finding:
        version = info.get("redis_version", "?")
        return self._finding(Health.OK, f"PONG in {took_ms:.0f} ms (Redis {version}, role {info.get('role', '?')})")

    def _memory(self, info: Mapping[str, Any]) -> Finding:
        used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
        policy = info.get("maxmemory_policy", "?")
        if limit > 0:
            pct = 100.0 * used / limit
            text = f"{pct:.0f}% of maxmemory used ({size(used)} of {size(limit)}, policy {policy})"
        else:
            system = int(info.get("total_system_memory", 0))
            if system <= 0:
                return self._finding(Health.OK, f"{size(used)} used (no maxmemory set, and the machine's memory "
                                                "is not reported)")
            pct = 100.0 * used / system
            text = (f"{pct:.0f}% of the machine's memory used (maxmemory is not set: {size(used)} of "
                    f"{size(system)})")
        return self._judged(pct, text, self.cfg.memory_warn_pct, self.cfg.memory_fail_pct)

    def _hit_rate(self, info: Mapping[str, Any]) -> Finding:
        hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
        lookups = hits + misses
        if lookups < self.cfg.min_lookups:
            return self._finding(Health.OK, f"hit rate not judged: {lookups:,} key lookups since the stats "
                                            f"began (fewer than min_lookups {self.cfg.min_lookups:,})")
        rate = 100.0 * hits / lookups
        text = f"hit rate {rate:.0f}% ({hits:,} hits of {lookups:,} key lookups since the stats began)"
        warn, fail = self.cfg.hit_rate_warn_pct, self.cfg.hit_rate_fail_pct
        lines = ", ".join(f"{word} below {line:g}%" for word, line in (("warn", warn), ("fail", fail))
                          if line is not None)
        if fail is not None and rate < fail:
            return self._finding(Health.DOWN, f"{text}; {lines}")
        if warn is not None and rate < warn:
            return self._finding(Health.DEGRADED, f"{text}; {lines}")
        return self._finding(Health.OK, text)

    def _clients(self, info: Mapping[str, Any]) -> Finding:
        connected, limit = int(info.get("connected_clients", 0)), info.get("maxclients")
        if not limit:
            return self._finding(Health.OK, f"{connected:,} clients connected (maxclients unknown)")
        pct = 100.0 * connected / int(limit)
        text = f"{connected:,} of {int(limit):,} clients connected ({pct:.0f}% of maxclients)"
        return self._judged(pct, text, self.cfg.clients_warn_pct, self.cfg.clients_fail_pct)

    def _judged(self, pct: float, text: str, warn: float, fail: float) -> Finding:
        lines = f"warn at {warn:g}%, fail at {fail:g}%"
        if pct >= fail:
            return self._finding(Health.DOWN, f"{text}; {lines}")
        if pct >= warn:
            return self._finding(Health.DEGRADED, f"{text}; {lines}")
        return self._finding(Health.OK, text)

    def _failed(self, exc: redis.RedisError, secrets: Sequence[str]) -> Finding:
        """A client error in words; refused credentials are ours to fix, so they are not 'down'."""
        message = _scrub(_first_line(str(exc)), secrets)
        lowered = message.lower()
        if isinstance(exc, redis.AuthenticationError):
            raise AccessDeniedError(f"{self.subject}: the server refused the credentials in {self.cfg.url} "
                                    f"({message[:120]})") from None
        if isinstance(exc, NoPermissionError):
            raise AccessDeniedError(f"{self.subject}: the user may not run PING or INFO ({message[:120]})") from None
        if isinstance(exc, redis.BusyLoadingError):
            reason = "still loading its data into memory: not serving yet"
        elif isinstance(exc, redis.TimeoutError) or "timed out" in lowered or "timeout" in lowered:
            reason = f"no answer within {self.cfg.timeout.total_seconds():g}s"
        elif "refused" in lowered:
            reason = "connection refused (nothing listening)"
        elif "name or service not known" in lowered or "nodename nor servname" in lowered \
                or "name resolution" in lowered:
            reason = "host name does not resolve"
        else:
            reason = message[:REASON_CHARS] or type(exc).__name__
        return self._finding(Health.DOWN, reason)


def _config_maxclients(client: redis.Redis) -> int | None:
    """maxclients from CONFIG GET, for servers before 7; None where CONFIG is disabled (as on ElastiCache)."""
    try:
        value = cast(dict[str, str], client.config_get("maxclients")).get("maxclients")
    except redis.RedisError:
        return None
    return int(value) if value else None


def _secrets(url: str) -> list[str]:
    """Every form in which the URL's secrets could show up in a message, longest first."""
    found = {url}
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        found |= {password, unquote(password), quote(unquote(password), safe="")}
    return sorted((s for s in found if s), key=len, reverse=True)
