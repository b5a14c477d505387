"""The `postgres_activity` check kind against the real PostgreSQL of OPSBOT_TEST_POSTGRES_URL: a query kept
running by another connection (`SELECT pg_sleep(…)`, cancelled after the test), connections by state against
max_connections, and pg_stat_statements missing or not loaded. Plus the short answers for a server that is down
or refuses the credentials, and the config rules.

The server is shared with other tests, so assertions name this test's own sessions rather than expect the
server to be otherwise idle."""
from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bot.config import ConfigError, parse_config
from bot.config.data_checks import PostgresActivityCheck
from integrations.base import AccessDeniedError, AdapterError, Health
from integrations.postgres_activity import PostgresActivity
from tests.fakes.tls import closed_port
from tests.waiting import wait_until

PG_ENV = "OPSBOT_TEST_POSTGRES_URL"
ENV = "FLIGHTS_DATABASE_URL"


@pytest.fixture
def pg_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} not set")
    return url


def libpq(url: str) -> str:
    return re.sub(r"^postgresql\+psycopg://", "postgresql://", url)


def activity(url: str | None, **cfg: object) -> PostgresActivity:
    model = PostgresActivityCheck.model_validate({"check": "postgres_activity", "url": {"secret": ENV},
                                                  "name": "flights"} | cfg)
    return PostgresActivity(model, environ={ENV: url} if url is not None else {})


@contextmanager
def sleeping_query(url: str, *, running_for: float) -> Iterator[int]:
    """A `SELECT pg_sleep(60)` running in another session for at least `running_for` seconds; its pid.
    The session is ended on the way out."""
    name = f"opsbot-test-{uuid.uuid4().hex[:8]}"
    conn = psycopg.connect(libpq(url), application_name=name, autocommit=True)
    pid = conn.info.backend_pid
    sleeper = threading.Thread(target=lambda: _sleep(conn), daemon=True)
    sleeper.start()
    try:
        with psycopg.connect(libpq(url), autocommit=True) as watcher:
            wait_until(lambda: watcher.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'active' "
                "AND query_start < clock_timestamp() - make_interval(secs => %s)", (pid, running_for)).fetchone(),
                timeout=10 + running_for, what="the sleeping query to be running")
        yield pid
    finally:
        with psycopg.connect(libpq(url), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))      # whether or not the query started
        sleeper.join(10)
        conn.close()


def _sleep(conn: psycopg.Connection) -> None:
    try:
        conn.execute("SELECT pg_sleep(60)")
    except psycopg.Error:                       # terminated by the test, as intended
        pass


@pytest.mark.postgres
def test_an_idle_server_is_ok_and_counts_connections_by_state(pg_url):
    with psycopg.connect(libpq(pg_url)) as in_transaction:          # BEGIN; SELECT 1: idle in transaction
        in_transaction.execute("SELECT 1")
        connections, queries = activity(pg_url, long_query_warn="1h", long_query_fail="2h").check()
    assert connections.health is Health.OK and connections.subject == "postgres flights"
    match = re.fullmatch(r"(\d+) of (\d+) connections in use \(\d+%\): (.*)", connections.summary)
    assert match, connections.summary
    used, limit, states = int(match[1]), int(match[2]), match[3]
    assert 2 <= used <= limit
    assert re.match(r"\d+ active(, \d+ idle)?, \d+ idle in transaction", states), states    # the check is active
    assert (queries.health, queries.summary) == (Health.OK, "no query running longer than 1h")


@pytest.mark.postgres
def test_a_query_past_the_warn_line_warns_and_past_the_fail_line_fails(pg_url):
    with sleeping_query(pg_url, running_for=1.2) as pid:
        _, warned = activity(pg_url, long_query_warn="1s", long_query_fail="1h").check()
        _, failed = activity(pg_url, long_query_warn="500ms", long_query_fail="1s").check()
    assert warned.health is Health.DEGRADED and failed.health is Health.DOWN
    assert re.match(r"(1 query|\d+ queries) running longer than 1s \(warn at 1s, fail at 1h\): ", warned.summary)
    assert re.search(rf"pid {pid} for [1-9]\d?s \(postgres@test, opsbot-test-[0-9a-f]{{8}}\): SELECT pg_sleep\(60\)",
                     warned.summary), warned.summary
    assert "(warn at 0s, fail at 1s)" in failed.summary           # 500ms reads as 0s: humanize counts seconds
    assert f"pid {pid}" in failed.details and failed.details[f"pid {pid}"].endswith(
        "postgres@test, SELECT pg_sleep(60)")
    [fine] = [f for f in activity(pg_url, long_query_warn="1h", long_query_fail="2h").check()
              if "running longer" in f.summary]
    assert fine.health is Health.OK


@pytest.mark.postgres
def test_connections_past_their_lines(pg_url):
    connections, _ = activity(pg_url, connections_warn_pct=0.1, connections_fail_pct=50).check()
    assert connections.health is Health.DEGRADED
    assert connections.summary.endswith("; warn at 0.1%, fail at 50%")
    connections, _ = activity(pg_url, connections_warn_pct=0.1, connections_fail_pct=0.2).check()
    assert connections.health is Health.DOWN


@pytest.mark.postgres
def test_slowest_statements_without_pg_stat_statements_is_a_warning_not_a_failure(pg_url):
    with psycopg.connect(libpq(pg_url), autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'").fetchone():
            pytest.skip("pg_stat_statements is installed in the test database")
    *_, statements = activity(pg_url, top_statements=5).check()
    assert (statements.health, statements.summary) == (
        Health.DEGRADED, "pg_stat_statements is not installed in this database, so the slowest statements can't "
                         "be listed (CREATE EXTENSION pg_stat_statements; it must also be in shared_preload_libraries)")
    assert len(activity(pg_url).check()) == 2                    # top_statements: 0 does not ask


@contextmanager
def own_cluster(*, preload: bool) -> Iterator[str]:
    """A throwaway PostgreSQL cluster (initdb, on a free loopback port), preloading pg_stat_statements or not,
    which the shared test server can't be made to do; its URL. Stopped and removed after. (A scratch database
    on the shared server would do for `preload=False`, but CREATE/DROP DATABASE there waits on other tests.)"""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("initdb is required in CI (Debian's postgresql package; .ci/run installs it)")
        pytest.skip("no initdb (Debian's postgresql package)")
    bin_dir, port = Path(found[-1]).parent, closed_port()
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []     # postgres won't run as root
    tmp_path = Path(tempfile.mkdtemp(prefix="opsbot-pgss-"))       # outside pytest's 0700 tree: postgres reads it
    if run_as:
        os.chown(tmp_path, pwd.getpwnam("postgres").pw_uid, -1)
    data = tmp_path / "data"
    subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                    "--no-sync"], check=True, capture_output=True, timeout=60)
    options = f"-p {port} -k {tmp_path} -c listen_addresses=127.0.0.1 -c fsync=off"
    if preload:
        options += " -c shared_preload_libraries=pg_stat_statements"
    pg_ctl = [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data)]
    try:
        subprocess.run([*pg_ctl, "-o", options, "-w", "-l", str(tmp_path / "log"), "start"], check=True,
                       capture_output=True, timeout=60)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_pg_stat_statements_installed_but_not_loaded_says_how_to_load_it():
    with own_cluster(preload=False) as url:
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        *_, statements = activity(url, top_statements=3).check()
    assert (statements.health, statements.summary) == (
        Health.DEGRADED, "pg_stat_statements is installed but not loaded, so the slowest statements can't be "
                         "listed (add it to shared_preload_libraries and restart the server)")


def test_the_slowest_statements_are_listed_when_pg_stat_statements_is_loaded():
    with own_cluster(preload=True) as url, psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")
        for _ in range(3):
            conn.execute("SELECT pg_sleep(0.05)")
        conn.execute("SELECT 1")
        *_, statements = activity(url, top_statements=2).check()
    assert statements.health is Health.OK
    assert re.fullmatch(r"slowest statement by mean time: \d{2,}\.\d ms over 3 calls: SELECT pg_sleep\(\$1\)",
                        statements.summary), statements.summary
    assert list(statements.details) == ["#1", "#2"]
    assert re.fullmatch(r"\d{2,}\.\d ms mean, 3 calls: SELECT pg_sleep\(\$1\)", statements.details["#1"])


def test_nothing_listening_is_down_and_never_shows_the_password():
    url = f"postgresql://app:S3cr3t%2Fpw@127.0.0.1:{closed_port()}/flights"
    [finding] = activity(url).check()
    assert (finding.health, finding.summary) == (Health.DOWN, "connection refused")


@pytest.mark.postgres
def test_an_unknown_role_is_access_denied_and_a_missing_database_is_down(pg_url):
    # The test server trusts loopback (no password is ever refused), but it does refuse a role it does not know.
    unknown = make_url(pg_url).set(username="opsbot_no_such_role", password="pw-Zq81x")
    with pytest.raises(AccessDeniedError) as err:
        activity(unknown.render_as_string(hide_password=False)).check()
    assert str(err.value) == ("postgres flights: the server refused the credentials in environment variable "
                              "FLIGHTS_DATABASE_URL")
    # The password is also the database's name, so the server's message carries it: it must come out as ***.
    missing = make_url(pg_url).set(password="pw-Zq81x", database="pw-Zq81x")
    [finding] = activity(missing.render_as_string(hide_password=False)).check()
    assert (finding.health, finding.summary) == (Health.DOWN, 'database "***" does not exist')


@pytest.mark.parametrize("url, message", [
    (None, "postgres flights: the secret in environment variable FLIGHTS_DATABASE_URL is not set"),
    ("hunter2-not-a-url", "postgres flights: the secret in environment variable FLIGHTS_DATABASE_URL does not hold "
                          "a PostgreSQL URL (like postgresql://user:password@host:5432/db)"),
    ("mysql+pymysql://app:hunter2@db/x", "postgres flights: the secret in environment variable FLIGHTS_DATABASE_URL "
                                         "holds a mysql URL; postgres_activity needs PostgreSQL"),
])
def test_a_missing_or_wrong_secret_is_explained_without_showing_it(url, message):
    with pytest.raises(AdapterError) as err:
        activity(url).check()
    assert str(err.value) == message


# --- config ------------------------------------------------------------------------------------------


def test_url_or_url_env_and_the_defaults():
    checks = parse_config({"checklists": {"m": {"checks": [
        {"check": "postgres_activity", "url": {"secret": "FLIGHTS_DATABASE_URL"}},
        {"check": "postgres_activity", "url_env": "APP_DATABASE_URL", "name": "app"}]}}}).checklists["m"].checks
    by_secret, by_env = checks
    assert isinstance(by_secret, PostgresActivityCheck) and isinstance(by_env, PostgresActivityCheck)
    assert (by_secret.label, by_env.label) == ("PostgreSQL activity at $FLIGHTS_DATABASE_URL",
                                               "PostgreSQL activity of app")
    assert str(by_env.secret) == "environment variable APP_DATABASE_URL"
    assert (by_secret.long_query_warn.total_seconds(), by_secret.long_query_fail.total_seconds(),
            by_secret.connections_warn_pct, by_secret.connections_fail_pct, by_secret.top_statements) == (
        60, 300, 80, 90, 0)


@pytest.mark.parametrize("extra, expected", [
    ({}, "checklists.m.checks[0].postgres_activity: give `url: {secret: ENV_VAR}` (or `{file: path}`) or "
         "`url_env: ENV_VAR`"),
    ({"url": {"secret": "A"}, "url_env": "B"}, "or `url_env: ENV_VAR`, not both"),
    ({"url_env": "A", "long_query_warn": "10m"},
     "checklists.m.checks[0].postgres_activity: long_query_fail must not be shorter than long_query_warn"),
    ({"url_env": "A", "long_query_warn": "0s"}, "checklists.m.checks[0].postgres_activity.long_query_warn: "),
    ({"url_env": "A", "top_statements": 50},
     "checklists.m.checks[0].postgres_activity.top_statements: Input should be less than or equal to 20"),
    ({"url_env": "A", "connections_warn_pct": 95},
     "connections_fail_pct (90) must be at or above connections_warn_pct (95)"),
])
def test_bad_settings_name_the_key(extra, expected):
    with pytest.raises(ConfigError) as err:
        parse_config({"checklists": {"m": {"checks": [{"check": "postgres_activity"} | extra]}}})
    assert expected in "\n".join(err.value.problems)
