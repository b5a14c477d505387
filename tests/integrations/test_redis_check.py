"""The `redis` check kind against a real redis-server on loopback (tests/fakes/redis_server.py): PING, memory
against maxmemory (or the machine's memory), hit rate, clients against maxclients, and the short answers for a
server that is down, silent or refuses the credentials. Plus its config rules."""
from __future__ import annotations

import re
import socket

import pytest

from bot.config import ConfigError, parse_config
from bot.config.data_checks import RedisCheck
from integrations.base import AccessDeniedError, AdapterError, Finding, Health
from integrations.redis_server import RedisServer
from integrations.units import size
from tests.fakes.redis_server import redis_server  # noqa: F401  (fixture)
from tests.fakes.tls import closed_port

ENV = "CACHE_URL"


def check(url: str | None, **cfg: object) -> RedisServer:
    model = RedisCheck.model_validate({"check": "redis", "url": {"secret": ENV}, "name": "cache-prod"} | cfg)
    return RedisServer(model, environ={ENV: url} if url is not None else {})


def by_topic(findings: list[Finding]) -> dict[str, Finding]:
    """The four findings by what they are about: ping, memory, hit rate, clients (in that order)."""
    assert [f.subject for f in findings] == ["redis cache-prod"] * 4 and {f.source for f in findings} == {"redis"}
    return dict(zip(("ping", "memory", "hits", "clients"), findings, strict=True))


def fill(server, megabytes: int) -> None:
    """Some data, so the few KB a check's own INFO costs move the memory percentage by well under 1%."""
    with server.client() as c:
        for i in range(megabytes):
            c.set(f"blob:{i}", "x" * 1024 * 1024)


def used_memory(server) -> int:
    with server.client() as c:
        return int(c.info("memory")["used_memory"])


def test_a_healthy_server_is_ok_on_every_count(redis_server):  # noqa: F811
    with redis_server.client() as c:
        c.config_set("maxmemory", str(512 * 1024 * 1024))
    found = by_topic(list(check(redis_server.url).check()))
    assert all(f.health is Health.OK for f in found.values())
    assert re.fullmatch(r"PONG in \d+ ms \(Redis \d+\.\d+\.\d+, role master\)", found["ping"].summary)
    assert re.fullmatch(r"0% of maxmemory used \(\d+\.?\d* [KM]iB of 512 MiB, policy noeviction\)",
                        found["memory"].summary), found["memory"].summary
    assert re.fullmatch(r"hit rate not judged: \d key lookups since the stats began \(fewer than min_lookups "
                        r"1,000\)", found["hits"].summary)
    assert re.fullmatch(r"[12] of 10,000 clients connected \(0% of maxclients\)", found["clients"].summary)


@pytest.mark.parametrize("share, health, verdict", [
    (0.85, Health.DEGRADED, "; warn at 80%, fail at 90%"),
    (0.95, Health.DOWN, "; warn at 80%, fail at 90%"),
    (0.50, Health.OK, ""),
])
def test_memory_against_maxmemory_warns_then_fails(redis_server, share, health, verdict):  # noqa: F811
    fill(redis_server, 4)
    limit = int(used_memory(redis_server) / share)
    with redis_server.client() as c:
        c.config_set("maxmemory", str(limit))
        c.config_set("maxmemory-policy", "allkeys-lru")
    memory = by_topic(list(check(redis_server.url).check()))["memory"]
    assert memory.health is health
    pct = round(share * 100)
    assert re.fullmatch(rf"({pct}|{pct - 1}|{pct + 1})% of maxmemory used \(\d+\.\d MiB of {size(limit)}, "
                        rf"policy allkeys-lru\){re.escape(verdict)}", memory.summary), memory.summary


def test_without_maxmemory_the_share_of_the_machine_is_shown_and_named(redis_server):  # noqa: F811
    memory = by_topic(list(check(redis_server.url).check()))["memory"]
    assert memory.health is Health.OK
    assert re.fullmatch(r"0% of the machine's memory used \(maxmemory is not set: \d+\.?\d* [KM]iB of "
                        r"\d+\.?\d* GiB\)", memory.summary), memory.summary
    [strict] = [f for f in check(redis_server.url, memory_warn_pct=0.001, memory_fail_pct=0.002).check()
                if "memory" in f.summary]
    assert strict.health is Health.DOWN
    assert strict.summary.endswith("; warn at 0.001%, fail at 0.002%")


def lookups(server, *, hits: int, misses: int) -> None:
    with server.client() as c:
        c.set("flight:1", "LHR-JFK")
        for _ in range(hits):
            c.get("flight:1")
        for i in range(misses):
            c.get(f"missing:{i}")


@pytest.mark.parametrize("cfg, health, ending", [
    ({}, Health.DEGRADED, "; warn below 80%"),
    ({"hit_rate_fail_pct": 50}, Health.DOWN, "; warn below 80%, fail below 50%"),
    ({"hit_rate_warn_pct": 30}, Health.OK, ""),
    ({"hit_rate_warn_pct": None}, Health.OK, ""),
])
def test_hit_rate_below_its_lines(redis_server, cfg, health, ending):  # noqa: F811
    lookups(redis_server, hits=30, misses=70)
    hits = by_topic(list(check(redis_server.url, min_lookups=100, **cfg).check()))["hits"]
    assert (hits.health, hits.summary) == (
        health, f"hit rate 30% (30 hits of 100 key lookups since the stats began){ending}")


def test_a_good_hit_rate_is_ok_and_too_few_lookups_are_not_judged(redis_server):  # noqa: F811
    lookups(redis_server, hits=95, misses=5)
    assert by_topic(list(check(redis_server.url, min_lookups=100).check()))["hits"].summary == (
        "hit rate 95% (95 hits of 100 key lookups since the stats began)")
    unjudged = by_topic(list(check(redis_server.url).check()))["hits"]
    assert (unjudged.health, unjudged.summary) == (
        Health.OK, "hit rate not judged: 100 key lookups since the stats began (fewer than min_lookups 1,000)")


@pytest.mark.parametrize("others, health", [(6, Health.OK), (7, Health.DEGRADED), (8, Health.DOWN)])
def test_clients_against_maxclients(redis_server, others, health):  # noqa: F811
    with redis_server.client() as c:
        c.config_set("maxclients", "10")
    held = []
    try:
        for _ in range(others):                 # connections that stay open while the check runs
            s = socket.create_connection(("127.0.0.1", redis_server.port))
            s.sendall(b"PING\r\n")
            assert s.recv(16) == b"+PONG\r\n"
            held.append(s)
        clients = by_topic(list(check(redis_server.url).check()))["clients"]
    finally:
        for s in held:
            s.close()
    connected = others + 1                      # and the check's own
    verdict = "" if health is Health.OK else "; warn at 80%, fail at 90%"
    assert (clients.health, clients.summary) == (
        health, f"{connected} of 10 clients connected ({connected * 10}% of maxclients){verdict}")


def test_nothing_listening_is_down_in_a_few_words():
    [finding] = check(f"redis://:pw-7x1@127.0.0.1:{closed_port()}/0").check()
    assert (finding.health, finding.summary, finding.subject) == (
        Health.DOWN, "connection refused (nothing listening)", "redis cache-prod")


def test_a_server_that_never_answers_times_out():
    with socket.create_server(("127.0.0.1", 0)) as silent:          # accepts TCP (backlog), never answers
        [finding] = check(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", timeout="300ms").check()
    assert (finding.health, finding.summary) == (Health.DOWN, "no answer within 0.3s")


def test_refused_credentials_are_access_denied_and_never_show_the_password(tmp_path):
    from tests.fakes.redis_server import RedisServer as Server
    from tests.fakes.redis_server import redis_binary

    server = Server(redis_binary(), tmp_path).start("--requirepass", "right-Pw-99")
    try:
        with pytest.raises(AccessDeniedError) as missing:
            check(server.url).check()
        with pytest.raises(AccessDeniedError) as wrong:
            check(f"redis://:wrong-Pw-42@127.0.0.1:{server.port}/0").check()
        found = by_topic(list(check(f"redis://:right-Pw-99@127.0.0.1:{server.port}/0").check()))
    finally:
        server.stop()
    assert str(missing.value).startswith(
        "redis cache-prod: the server refused the credentials in environment variable CACHE_URL (")
    assert "the server refused the credentials" in str(wrong.value)
    assert "wrong-Pw-42" not in str(wrong.value) and wrong.value.__suppress_context__
    assert found["ping"].health is Health.OK
    assert "right-Pw-99" not in " ".join(f.summary for f in found.values())


@pytest.mark.parametrize("url, message", [
    (None, "redis cache-prod: the secret in environment variable CACHE_URL is not set"),
    ("http://:hunter2@cache:6379", "redis cache-prod: the secret in environment variable CACHE_URL does not hold a "
                                   "Redis URL (like redis://:password@host:6379/0)"),
])
def test_a_missing_or_wrong_secret_is_explained_without_showing_it(url, message):
    with pytest.raises(AdapterError) as err:
        check(url).check()
    assert str(err.value) == message


# --- config ------------------------------------------------------------------------------------------


def test_the_defaults_and_the_label():
    cfg = parse_config({"checklists": {"m": {"checks": [
        {"check": "redis", "url": {"secret": "CACHE_URL"}},
        {"check": "redis", "name": "cache-prod", "url": {"file": "/run/secrets/redis-url"}}]}}})
    plain, named = cfg.checklists["m"].checks
    assert isinstance(plain, RedisCheck) and isinstance(named, RedisCheck)
    assert (plain.label, named.label) == ("Redis at $CACHE_URL", "Redis cache-prod")
    assert (plain.memory_warn_pct, plain.memory_fail_pct, plain.hit_rate_warn_pct, plain.hit_rate_fail_pct,
            plain.min_lookups, plain.clients_warn_pct, plain.clients_fail_pct, plain.timeout.total_seconds()) == (
        80, 90, 80, None, 1000, 80, 90, 3)


@pytest.mark.parametrize("extra, expected", [
    ({"url": "redis://cache:6379"}, "checklists.m.checks[0].redis.url: Input should be a valid dictionary"),
    ({"url": {"secret": "CACHE_URL"}, "memory_warn_pct": 95},
     "checklists.m.checks[0].redis: memory_fail_pct (90) must be at or above memory_warn_pct (95)"),
    ({"url": {"secret": "CACHE_URL"}, "hit_rate_fail_pct": 90},
     "checklists.m.checks[0].redis: hit_rate_fail_pct (90) must be at or below hit_rate_warn_pct (80)"),
    ({"url": {"secret": "CACHE_URL"}, "clients_fail_pct": 120},
     "checklists.m.checks[0].redis.clients_fail_pct: Input should be less than or equal to 100"),
    ({"url": {"secret": "CACHE_URL"}, "timeout": "10ms"}, "checklists.m.checks[0].redis.timeout: must be between"),
    ({}, "checklists.m.checks[0].redis.url: Field required"),
])
def test_bad_settings_name_the_key(extra, expected):
    with pytest.raises(ConfigError) as err:
        parse_config({"checklists": {"m": {"checks": [{"check": "redis"} | extra]}}})
    assert expected in "\n".join(err.value.problems)
