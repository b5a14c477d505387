"""Bad input never poisons a batch: real `Receivers` on SQLite and PostgreSQL, and the real WSGI app under waitress.

A bad alert among 499 good ones is either made readable and stored (NUL, lone surrogates, numbers where text is
expected) or rejected alone with its reason (an object where text is required, no key, not an object): the 499
are stored either way. Nothing about the data gives a 5xx; a database that is down does."""
from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.alerts.receive import Receivers
from bot.alerts.rejected import ROWS_PER_DELIVERY
from bot.alerts.service import Alerts
from bot.config import parse_config
from bot.http import make_wsgi_app
from bot.storage.db import make_engine, make_sessions
from bot.storage.models import Alert, RejectedAlert
from tests.conftest import StepClock
from tests.fakes.sns import TOPIC, FakeSns
from tests.waiting import wait_until

TOKEN = "hook-t0ken"
CONFIG: dict[str, Any] = {
    "channels": {"alerts": "#alerts"},
    "alerts": {"webhook": {"token_env": "HOOK_TOKEN"},
               "sns": {"topics": [TOPIC], "cert_host_pattern": r"^127\.0\.0\.1$", "cert_scheme": "http"}},
}
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BAD = 250                                                      # where the bad alert sits in the batch of 500


def am_alert(n: int) -> dict[str, Any]:
    return {"status": "firing", "fingerprint": f"fp{n % 20}",
            "labels": {"alertname": f"Alert{n % 20}", "severity": "warning", "service": "backend"},
            "annotations": {"summary": f"alert {n % 20}", "description": "5xx above 5%"}}


def wh_alert(n: int) -> dict[str, Any]:
    return {"source": "uptime", "dedup_key": f"k{n % 20}", "title": f"alert {n % 20}", "severity": "warning"}


def patch(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `base` with `path` ("labels.service") set to `value`, or removed when value is DROP."""
    out = json.loads(json.dumps(base))
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[key]
    if value is DROP:
        node.pop(last, None)
    else:
        node[last] = value
    return out


DROP = object()
AM_BAD = {"status": "firing", "fingerprint": "bad", "labels": {"alertname": "Bad", "severity": "warning"},
          "annotations": {"summary": "bad one"}}
WH_BAD = {"dedup_key": "bad", "title": "bad one", "severity": "warning"}

# (receiver, the bad alert, what a person reads afterwards: ("kept", column, stored value) or ("rejected", reason))
CASES: dict[str, tuple[str, Any, tuple[str, ...]]] = {
    "am-nul-in-title": ("alertmanager", patch(AM_BAD, "annotations.summary", "disk\x00full"),
                        ("kept", "title", "disk\ufffdfull")),
    "am-nul-in-labels": ("alertmanager", patch(AM_BAD, "labels.team", "db\x00a"), ("kept", "details", "db\ufffda")),
    "am-nul-in-label-key": ("alertmanager", patch(AM_BAD, "labels.te\x00am", "dba"),
                            ("kept", "details", "te\ufffdam")),
    "am-nul-in-annotations": ("alertmanager", patch(AM_BAD, "annotations.description", "load\x00high"),
                              ("kept", "reason", "load\ufffdhigh")),
    "am-lone-surrogate": ("alertmanager", patch(AM_BAD, "annotations.summary", "cpu \ud800 hot"),
                          ("kept", "title", "cpu \ufffd hot")),
    "am-number-severity": ("alertmanager", patch(AM_BAD, "labels.severity", 1), ("kept", "details", "severity=1")),
    "am-dict-in-service": ("alertmanager", patch(AM_BAD, "labels.service", {"name": "backend"}),
                           ("rejected", f"alerts[{BAD}].labels.service is an object, not text")),
    "am-object-severity": ("alertmanager", patch(AM_BAD, "labels.severity", {"level": "critical"}),
                           ("rejected", f"alerts[{BAD}].labels.severity is an object, not text")),
    "am-missing-fingerprint": ("alertmanager", patch(patch(AM_BAD, "fingerprint", DROP), "labels.alertname", DROP),
                               ("rejected", f"alerts[{BAD}] has neither fingerprint nor labels.alertname")),
    "am-not-an-object": ("alertmanager", ["not", "an", "alert"], ("rejected", f"alerts[{BAD}] is not an object")),
    "wh-nul-in-title": ("webhook", patch(WH_BAD, "title", "api\x00down"), ("kept", "title", "api\ufffddown")),
    "wh-lone-surrogate-in-detail-key": ("webhook", patch(WH_BAD, "details", {"re\udc00gion": "eu"}),
                                        ("kept", "details", "re\ufffdgion")),
    "wh-number-severity": ("webhook", patch(WH_BAD, "severity", 2.5), ("kept", "severity", "P3")),
    "wh-dict-in-service": ("webhook", patch(WH_BAD, "service", {"name": "api"}),
                           ("rejected", f"alert {BAD}.service is an object, not text")),
    "wh-missing-dedup-key": ("webhook", patch(WH_BAD, "dedup_key", DROP),
                             ("rejected", f"alert {BAD} is missing dedup_key")),
    "wh-not-an-object": ("webhook", "api down", ("rejected", f"alert {BAD} is not an object")),
}


def batch(receiver: str, bad: Any = None, *, size: int = 500) -> bytes:
    make = am_alert if receiver == "alertmanager" else wh_alert
    alerts = [make(n) for n in range(size)]
    if bad is not None:
        alerts[BAD] = bad
    doc: Any = {"version": "4", "status": "firing", "alerts": alerts} if receiver == "alertmanager" else alerts
    return json.dumps(doc).encode()                           # NUL and lone surrogates as JSON escapes


@pytest.fixture
def rt(make_runtime: Callable[..., Any]) -> Any:
    return make_runtime(CONFIG)


@pytest.fixture
def receivers(rt: Any) -> Receivers:
    return Receivers(rt.alerts, environ={"HOOK_TOKEN": TOKEN})


def stored(receivers: Receivers, model: Any = Alert) -> list[Any]:
    with receivers.alerts.sessions() as s:
        return list(s.scalars(select(model).order_by(model.id)))


def total_count(receivers: Receivers) -> int:
    with receivers.alerts.sessions() as s:
        return int(s.scalar(select(func.sum(Alert.count))) or 0)


def readable_text(alert: Alert, column: str) -> str:
    if column == "details":                                    # JSON: labels as `key=value` pairs
        return " ".join(f"{k}={v}" for k, v in json.loads(alert.details).items())
    return str(getattr(alert, column))


@pytest.mark.parametrize("case", CASES)
def test_one_bad_alert_among_500_loses_none_of_the_good_ones(receivers, case, caplog):
    receiver, bad, outcome = CASES[case]
    status, answer = receivers.handle(receiver, batch(receiver, bad), {"authorization": f"Bearer {TOKEN}"})
    assert status == 202
    if outcome[0] == "kept":
        _, column, readable = outcome
        assert (answer["accepted"], answer["rejected"], total_count(receivers)) == (500, [], 500)
        [alert] = [a for a in stored(receivers) if a.dedup_key.endswith("bad")]
        assert readable in readable_text(alert, column)
        assert stored(receivers, RejectedAlert) == [] and receivers.rejected.snapshot() == {}
        return
    reason = outcome[1]
    assert (answer["accepted"], answer["rejected"], total_count(receivers)) == (499, [{"index": BAD,
                                                                                      "reason": reason}], 499)
    [row] = stored(receivers, RejectedAlert)
    assert (row.receiver, row.item, row.reason) == (receiver, BAD, reason) and row.excerpt
    assert sum(receivers.rejected.snapshot().values()) == 1
    [line] = [r for r in caplog.records if r.name == "bot.alerts.rejected"]
    assert line.levelno == logging.WARNING and line.exc_info is None and reason in line.getMessage()


def test_a_batch_with_nothing_valid_is_a_400_naming_the_reason_and_every_alert_is_counted(receivers):
    body = json.dumps({"version": "4", "alerts": [patch(AM_BAD, "labels.service", [1])] * 500}).encode()
    status, answer = receivers.handle("alertmanager", body, {})
    assert status == 400
    assert answer["error"] == "no valid alert in the delivery: alerts[0].labels.service is a list, not text " \
                              "(and 499 more)"
    assert answer["rejected_total"] == 500 and len(answer["rejected"]) == 100
    assert len(stored(receivers, RejectedAlert)) == ROWS_PER_DELIVERY and stored(receivers) == []
    assert receivers.rejected.snapshot() == {("alertmanager", "wrong_type"): 500}


def test_a_redelivered_batch_counts_nothing_again_and_records_its_rejection_once(receivers):
    body = batch("alertmanager", patch(AM_BAD, "labels.service", {"x": 1}))
    first = receivers.handle("alertmanager", body, {})
    again = receivers.handle("alertmanager", body, {})
    assert (first[1]["accepted"], again[1]["accepted"], again[1]["duplicates"]) == (499, 0, 499)
    assert total_count(receivers) == 499 and len(stored(receivers, RejectedAlert)) == 1


def test_the_webhook_idempotency_key_names_the_delivery(receivers):
    headers = {"authorization": f"Bearer {TOKEN}", "idempotency-key": "run-42"}
    assert receivers.handle("webhook", batch("webhook", size=3), headers)[1]["accepted"] == 3
    # The same key again is a redelivery: the 3 alerts it already fired count nothing; the 2 it never
    # fired are state changes (fired now), as any redelivery within the window applies them.
    again = receivers.handle("webhook", batch("webhook", size=5), headers)[1]
    assert (again["accepted"], again["duplicates"]) == (2, 3)
    assert receivers.handle("webhook", batch("webhook", size=5), {**headers, "idempotency-key": "run-43"})[0] == 202
    assert total_count(receivers) == 10


def test_an_alert_the_database_refuses_is_rejected_alone(make_runtime, db_url):
    """A value no parser rule catches but the database refuses (PostgreSQL enforces a channel's 64
    characters, SQLite does not): that alert is rejected, the batch is stored."""
    config = {**CONFIG, "alerts": {**CONFIG["alerts"], "routes": [{"match": {"service": "long"},
                                                                    "channel": "#" + "x" * 70}]}}
    receivers = Receivers(make_runtime(config).alerts, environ={"HOOK_TOKEN": TOKEN})
    body = json.dumps([wh_alert(n) for n in range(9)] + [{**wh_alert(99), "service": "long"}]).encode()
    status, answer = receivers.handle("webhook", body, {"authorization": f"Bearer {TOKEN}"})
    again = receivers.handle("webhook", body, {"authorization": f"Bearer {TOKEN}"})
    assert status == 202 and again[0] == 202
    if db_url.startswith("sqlite"):
        assert (answer["accepted"], answer["rejected"]) == (10, [])
        return
    assert (answer["accepted"], answer["rejected"]) == (9, [{"index": 9, "reason": "alert 9 could not be stored "
                                                                                   "(DataError)"}])
    assert (again[1]["accepted"], again[1]["duplicates"], total_count(receivers)) == (0, 9, 9)
    assert receivers.rejected.snapshot() == {("webhook", "unstorable"): 2}


@pytest.mark.parametrize("url", ["postgresql+psycopg://postgres@127.0.0.1:1/none", "sqlite:////nonexistent/dir/x.db"])
def test_only_an_unavailable_database_is_a_503(clock, url):
    engine = make_engine(url)
    receivers = Receivers(Alerts(make_sessions(engine), clock, parse_config(CONFIG)), environ={})
    try:
        status, answer = receivers.handle("alertmanager", batch("alertmanager", size=3), {})
        all_bad = receivers.handle("alertmanager", json.dumps({"alerts": [1, 2]}).encode(), {})
    finally:
        engine.dispose()
    assert (status, answer) == (503, {"error": "alert storage unavailable; retry later"})
    assert all_bad[0] == 400                                 # bad data stays a 400: a retry cannot fix it


# --- limits, over real HTTP --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def http_receivers(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receivers]:
    """Receivers on a SQLite copy, for the tests over HTTP (the limits never reach a database)."""
    path = tmp_path_factory.mktemp("http") / "opsbot.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield Receivers(Alerts(make_sessions(engine), StepClock(), parse_config(CONFIG)), environ={"HOOK_TOKEN": TOKEN})
    engine.dispose()


@pytest.fixture(scope="module")
def served(http_receivers: Receivers) -> Iterator[str]:
    """The bot's WSGI app under waitress on a free loopback port (stopped without bot.http.HttpServer's race:
    closing its sockets under the running select loop raises EBADF in the server thread)."""
    from waitress import create_server

    engine = http_receivers.alerts.sessions.kw["bind"]
    server = create_server(make_wsgi_app(engine, http_receivers), host="127.0.0.1", port=0, threads=4)
    stopping = threading.Event()

    def run() -> None:
        try:
            server.run()
        except OSError:
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=run, name="test-http", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    stopping.set()
    server.close()
    thread.join(5)


@pytest.fixture(scope="module")
def fake_sns() -> Iterator[FakeSns]:
    fake = FakeSns()
    yield fake
    fake.close()


KINDS = ["sns", "alertmanager", "webhook"]
TOO_BIG = b'{"alerts": ["' + b"x" * 1_000_000 + b'"]}'


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("body, status, error", [
    (b"[" * 5000, 400, "body nested deeper than 32"),
    (b'{"a":' * 40 + b"1" + b"}" * 40, 400, "body nested deeper than 32"),
    (TOO_BIG, 413, "body larger than 1000000 bytes"),
])
def test_limits_come_before_credentials_and_signatures(served, fake_sns, kind, body, status, error):
    before = fake_sns.cert_fetches
    response = httpx.post(f"{served}/alerts/{kind}", content=body, timeout=10)      # no credentials at all
    assert (response.status_code, response.json()) == (status, {"error": error})
    assert fake_sns.cert_fetches == before


@pytest.mark.parametrize("kind", KINDS)
def test_a_body_without_content_length_is_read_only_up_to_the_limit(served, kind):
    response = httpx.post(f"{served}/alerts/{kind}", content=iter([TOO_BIG[:500_000], TOO_BIG[500_000:]]),
                          timeout=10)                                                # chunked: no Content-Length
    assert (response.status_code, response.json()) == (413, {"error": "body larger than 1000000 bytes"})


def test_a_good_batch_with_a_bad_alert_over_http(served, http_receivers):
    body = batch("webhook", patch(WH_BAD, "service", {"n": 1}), size=300)
    response = httpx.post(f"{served}/alerts/webhook", content=body, headers=AUTH, timeout=30)
    assert response.status_code == 202
    assert response.json()["rejected"] == [{"index": BAD, "reason": f"alert {BAD}.service is an object, not text"}]
    assert total_count(http_receivers) == 299


def test_a_database_busy_past_its_timeout_gets_one_more_try(sqlite_template, tmp_path, clock, caplog):
    """SQLite's write lock held by another writer past the 5 s busy timeout: the receiver tries once more
    (the receipt makes that safe) instead of making the sender retry."""
    path = tmp_path / "opsbot.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    receivers = Receivers(Alerts(make_sessions(engine), clock, parse_config(CONFIG)), environ={})
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")                          # another writer holds the lock
    caplog.set_level(logging.INFO, logger="bot.alerts.receive")
    try:
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(receivers.handle, "alertmanager", batch("alertmanager", size=3), {})
            wait_until(lambda: any("trying once more" in r.getMessage() for r in caplog.records), timeout=30,
                       what="the first try to give up on the lock")
            locker.execute("ROLLBACK")
            status, body = answer.result(timeout=30)
    finally:
        locker.close()
        engine.dispose()
    assert (status, body["accepted"]) == (202, 3)
