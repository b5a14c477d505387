"""Fixtures that build real parts: databases (SQLite always, PostgreSQL when configured), a fake Slack
Web API on loopback, local health endpoints, and the bot's runtime wired to them."""
from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

import commands
from bot.app import build_runtime
from bot.config import parse_config
from bot.reply import Reply
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack.board import SlackBoard
from bot.slack.client import web_client
from bot.storage import db
from bot.storage.models import Base
from commands.base import CommandContext
from tests.fakes.board import RecordingBoard
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.health_targets import HealthTargets
from tests.slackreq import SECRET
from tests.waiting import wait_until

PG_ENV = "OPSBOT_TEST_POSTGRES_URL"


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") == "true" and not os.environ.get(PG_ENV):
        raise pytest.UsageError(f"CI=true requires {PG_ENV}: PostgreSQL tests may not be skipped in CI")
    _loopback_only()


def _loopback_only() -> None:
    """Fail any test that tries to open a connection beyond this machine's loopback interface."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if not ipaddress.ip_address(host).is_loopback:
                raise OSError(f"test tried to reach {host}: only loopback is allowed in tests")

    def connect(sock: socket.socket, address: Any) -> None:
        check(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private schema in the PostgreSQL database named by OPSBOT_TEST_POSTGRES_URL, dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} not set")
    schema = f"opsbot_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # a configured but unreachable server is a failure, never a skip
        pytest.fail(f"PostgreSQL at {PG_ENV} is not reachable: {exc}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest schema, migrated once per session; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "opsbot.db"
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        db.upgrade(engine)
    finally:
        engine.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One test body, both databases: a fresh SQLite file (a copy of the migrated template), or a truncated
    PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "opsbot.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    _truncate(url)
    return url


def _truncate(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            exists = conn.execute(text("SELECT to_regclass('incidents')")).scalar()
            if exists:
                names = ", ".join(t.name for t in Base.metadata.sorted_tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


class StepClock:
    """An injected clock that moves only when told to."""

    def __init__(self, start: datetime = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def health_targets() -> Iterator[HealthTargets]:
    targets = HealthTargets()
    yield targets
    targets.close()


def slack_env(fake: FakeSlack | None, db_url: str) -> dict[str, str]:
    env = {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SECRET, "DATABASE_URL": db_url}
    if fake is not None:
        env["SLACK_API_URL"] = fake.api_url
    return env


@pytest.fixture
def make_runtime(db_url: str, clock: StepClock) -> Iterator[Callable[..., Runtime]]:
    """Build the bot's runtime on the test database with a config given as a dict."""
    built: list[Runtime] = []

    def make(config: dict[str, Any] | None = None, *, fake: FakeSlack | None = None,
             real_clock: bool = False, integrations: Any = None) -> Runtime:
        settings = Settings.from_env(slack_env(fake, db_url))
        kwargs: dict[str, Any] = {} if real_clock else {"clock": clock}
        if integrations is not None:
            kwargs["integrations"] = integrations
        if fake is not None:
            kwargs["board"] = lambda sessions, clock: SlackBoard(web_client(settings), sessions, clock)
        else:
            kwargs["board"] = lambda sessions, clock: RecordingBoard()
        rt = build_runtime(settings, parse_config(config or {}), **kwargs)
        built.append(rt)
        return rt

    yield make
    for rt in built:
        rt.operations.runner.idle(timeout=10)
        # Slack work runs on worker threads that may still be closing their session: wait, with a deadline.
        wait_until(lambda: rt.engine.pool.checkedout() == 0, timeout=3,  # noqa: B023 (called at once)
                   what="every database connection to be returned to the pool")
        rt.engine.dispose()


@pytest.fixture
def work_pool() -> Iterator[ThreadPoolExecutor]:
    """The pool Slack work runs on after the ack; drained before the fakes close."""
    pool = ThreadPoolExecutor(8, thread_name_prefix="test-work")
    yield pool
    pool.shutdown(wait=True)


@pytest.fixture
def run_ops() -> Callable[..., Reply]:
    """Run one `/ops` command line the way both transports do (commands.execute)."""

    def run(rt: Runtime, text: str, *, user: str = "U0ALICE") -> Reply:
        ctx = CommandContext(rt=rt, user_id=user, channel_id="C0ONCALL")
        reply = commands.execute(ctx, text, source="test")
        rt.operations.runner.idle(timeout=30)          # a confirmed operation runs on the runner: let it end
        return reply

    return run
