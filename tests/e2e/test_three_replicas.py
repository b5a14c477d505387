"""Three `opsbot serve` replicas on one PostgreSQL behind a round-robin load balancer of the test's own, through
an Alertmanager storm, escalations, slash commands and a scheduled checklist. One of them is `kill -9`ed the
moment it has acknowledged one Confirm and received another; it is the replica that leads the scheduler, so the
schedule changes hands too, with a checklist slot falling due 2 s later (moved there in the shared job store:
cron has minute granularity, and the suite cannot wait for the next minute).

The balancer (`RoundRobin`) forwards each HTTP request to the next replica; a replica that refuses the
connection (dead) is skipped for the next one. A replica that dies after the request reached it gets the client
a 502, as a real load balancer would; senders then do what theirs do: Alertmanager sends the same bytes again,
and the user clicks Confirm again. Slack (the fake) and Kubernetes (kmock) outlive the replicas.

Proven afterwards: no accepted alert is lost or counted twice; no message is posted twice; the checklist slot
that fell due while the schedule changed hands ran once; each escalation step of each alert was taken once; the
Confirm clicked at the kill applied the rollback at most once and ended done or interrupted, never twice.
"""
from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text

from tests.e2e.conftest import BotLauncher, BotProcess, db_row, run_opsbot, undelivered
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.kube import KubeApi, kube, kubeconfig  # noqa: F401  (fixture)
from tests.slackreq import action_body, signed_headers, slash_body
from tests.waiting import wait_until

REPLICAS = 3
PER_BATCH, KEYS, SENDERS = 20, 15, 3          # 15 warning keys in C0ALERTS: past the storm threshold (10)
MORE_AFTER_KILL = 20                          # batches the storm still sends once the replica is dead
CRITICAL = 4                                  # P1 alerts in C0PAGE, each escalated twice
STEPS = ("2s", "4s")
ATTEMPT_TIMEOUT_S, RETRY_S = 10, 0.05
SUMMARY = "more alert(s) firing in this channel"
ROLE = {"roles": {"deployer": ["U0ALICE"]}, "commands": {"rollback": ["deployer"]}}
PULSE = "checklist:pulse"
SERVICES = ("backend", "frontend")
LEADS = "now runs the schedule"


class RoundRobin:
    """An HTTP load balancer on loopback: each request goes to the next replica; one that refuses the connection
    is skipped. `steer` sends the next request for a path to a given replica (the test picks whom it kills)."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = [u.removeprefix("http://") for u in upstreams]
        self.forwarded: list[tuple[str, int]] = []     # (path, replica index) once the request is on its way
        self._next = 0
        self._steer: dict[str, tuple[int, threading.Event]] = {}
        self._lock = threading.Lock()
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                balancer._forward(self)

            def do_POST(self) -> None:  # noqa: N802
                balancer._forward(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def steer(self, path: str, index: int) -> threading.Event:
        """The next request for `path` goes to replica `index`; the event is set once it is forwarded there."""
        forwarded = threading.Event()
        with self._lock:
            self._steer[path] = (index, forwarded)
        return forwarded

    def _order(self, path: str) -> tuple[list[int], threading.Event | None]:
        with self._lock:
            steered = self._steer.pop(path, None)
            if steered is not None:
                return [steered[0]], steered[1]
            start, self._next = self._next, self._next + 1
        return [(start + i) % len(self.upstreams) for i in range(len(self.upstreams))], None

    def _forward(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "connection")}
        order, forwarded = self._order(request.path)
        for index in order:
            host, port = self.upstreams[index].split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=ATTEMPT_TIMEOUT_S)
            try:
                conn.connect()
            except OSError:
                conn.close()
                continue                                   # dead: the next replica
            try:
                with self._lock:
                    self.forwarded.append((request.path, index))
                conn.request(request.command, request.path, body=body, headers=headers)
                if forwarded is not None:
                    forwarded.set()
                answer = conn.getresponse()
                status, content = answer.status, answer.read()
                kind = answer.getheader("Content-Type", "application/octet-stream")
            except (OSError, http.client.HTTPException):
                status, content, kind = 502, b"upstream died mid-request", "text/plain"
            finally:
                conn.close()
            self._reply(request, status, content, kind)
            return
        self._reply(request, 503, b"no live replica", "text/plain")

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, content: bytes, kind: str) -> None:
        request.send_response(status)
        request.send_header("Content-Type", kind)
        request.send_header("Content-Length", str(len(content)))
        request.end_headers()
        request.wfile.write(content)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Storm:
    """Alertmanager deliveries from SENDERS threads, each batch sent again byte for byte until answered 2xx
    (Alertmanager retries on no answer and on 5xx). Sends until told to finish, then MORE_AFTER_KILL more."""

    url: str
    accepted: int = 0
    answered: int = 0
    retries: int = 0
    refused: list[int] = field(default_factory=list)
    finish: threading.Event = field(default_factory=threading.Event)     # the kill happened: wind down
    stop: threading.Event = field(default_factory=threading.Event)       # the test is over: stop at once
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _batch: int = 0
    _last: int | None = None

    def run(self) -> None:
        with httpx.Client(timeout=ATTEMPT_TIMEOUT_S) as client, ThreadPoolExecutor(SENDERS) as pool:
            list(pool.map(lambda _: self._sender(client), range(SENDERS)))

    def _take(self) -> int | None:
        with self._lock:
            if self.finish.is_set() and self._last is None:
                self._last = self._batch + MORE_AFTER_KILL
            if self._last is not None and self._batch >= self._last:
                return None
            self._batch += 1
            return self._batch

    def _sender(self, client: httpx.Client) -> None:
        while not self.stop.is_set() and (n := self._take()) is not None:
            body = warning_batch(n)
            while not self.stop.is_set():
                try:
                    status: int | None = client.post(f"{self.url}/alerts/alertmanager", content=body,
                                                     headers={"Content-Type": "application/json"}).status_code
                except httpx.TransportError:
                    status = None
                with self._lock:
                    if status is not None and 200 <= status < 300:
                        self.accepted, self.answered = self.accepted + PER_BATCH, self.answered + 1
                        break
                    if status is not None and status < 500:
                        self.refused.append(status)
                        break
                    self.retries += 1
                self.stop.wait(RETRY_S)      # between attempts, as Alertmanager backs off


def alertmanager(alerts: list[dict[str, Any]]) -> bytes:
    return json.dumps({"version": "4", "status": "firing", "receiver": "opsbot", "groupKey": "{}:{}",
                       "alerts": alerts}).encode()


def warning_batch(n: int) -> bytes:
    """PER_BATCH firing alerts over KEYS fingerprints; the batch number makes each delivery's bytes distinct."""
    return alertmanager([{"status": "firing", "fingerprint": f"warn-{i % KEYS}",
                          "labels": {"alertname": f"DiskFull{i % KEYS}", "severity": "warning", "batch": str(n)},
                          "annotations": {"summary": f"disk full on node {i % KEYS}"}} for i in range(PER_BATCH)])


def config(tmp_path: Path, kube_url: str) -> dict[str, Any]:
    return {
        "channels": {"default": "C0ONCALL", "alerts": "C0ALERTS"},
        "permissions": ROLE,
        "scheduler": {"leader_poll": "1s"},
        "operations": {"lease": "3s"},
        "alerts": {
            "channel_interval": "100ms",
            "incident_severities": [],
            "routes": [{"match": {"severity": "P1"}, "channel": "C0PAGE"}],
            "escalation": {"P1": {"steps": [{"unacknowledged_after": w, "notify": ["U0LEAD"]} for w in STEPS]}},
        },
        "integrations": {"kubernetes": {"kubeconfig": kubeconfig(tmp_path, kube_url), "context": "prod",
                                        "timeout": "2s", "poll_interval": "1s"}},
        "services": [{"name": name, "kubernetes": {"deployment": name, "namespace": "prod", "rollout_timeout": "30m"}}
                     for name in SERVICES],
        "checklists": {"pulse": {"schedule": "* * * * *", "channel": "C0CHECKS",
                                 "checks": [{"check": "manual", "text": "Look at the dashboards"}]}},
    }


@pytest.fixture
def balancer() -> Iterator[list[RoundRobin]]:
    made: list[RoundRobin] = []
    yield made
    for lb in made:
        lb.close()


def move_slot(db_url: str, cfg: dict[str, Any], at: datetime) -> None:
    """Make the checklist's next slot fall due at `at`, in the job store the replicas share (the leader reads
    it when it takes the lead)."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    from bot.config import parse_config
    from schedules.scheduler import TABLE, job_specs, sync_jobs

    engine = create_engine(db_url)
    aps = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=TABLE)},
                              timezone=UTC)
    aps.start(paused=True)
    try:
        sync_jobs(aps, job_specs(parse_config(cfg)))
        aps.modify_job(PULSE, next_run_time=at)
    finally:
        aps.shutdown(wait=False)
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.timeout(180)
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_three_replicas_behind_a_balancer_survive_a_kill_9(
        db_url: str, start_bot: BotLauncher, fake_slack: FakeSlack, kube: KubeApi,  # noqa: F811
        balancer: list[RoundRobin], tmp_path: Path) -> None:
    for name in SERVICES:
        kube.seed_deployment(name, revisions=(1, 2), ready=1)   # its rollout finishes when the test says so
    cfg = config(tmp_path, kube.url)
    migrated = run_opsbot("db", "upgrade", env=start_bot.base_env)   # once, not three replicas racing to migrate
    assert migrated.returncode == 0, migrated.stderr
    replicas = start_bot.replicas(cfg, REPLICAS)
    leader = wait_until(lambda: [i for i, r in enumerate(replicas) if LEADS in "".join(r.log)],
                        timeout=15, what="a replica to lead the scheduler")[0]
    lb = RoundRobin([r.url for r in replicas])
    balancer.append(lb)

    # Alarms that escalate: P1, routed to C0PAGE, two steps each (2 s, 4 s).
    crit = alertmanager([{"status": "firing", "fingerprint": f"crit-{i}",
                          "labels": {"alertname": f"Down{i}", "severity": "critical"},
                          "annotations": {"summary": f"checkout down in zone {i}"}} for i in range(CRITICAL)])
    assert httpx.post(f"{lb.url}/alerts/alertmanager", content=crit, timeout=10).status_code == 202
    storm = Storm(lb.url)
    sender = threading.Thread(target=storm.run, daemon=True)
    sender.start()
    engine = create_engine(db_url)
    try:
        # Slash commands through the balancer propose two rollbacks; their Confirm cards arrive.
        cards = {name: propose(lb, fake_slack, name) for name in SERVICES}
        wait_until(lambda: storm.answered >= 10, timeout=30, what="the storm to be under way")
        slot = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        move_slot(db_url, cfg, slot)                 # the checklist's next slot falls due as the leader dies
        kill_at_the_confirms(lb, replicas[leader], leader, fake_slack, cards)
        storm.finish.set()
        killed_at = time.monotonic()
        wait_until(lambda: not sender.is_alive(), timeout=60, what="every storm batch to be answered")
        wait_until(lambda: [i for i, r in enumerate(replicas) if i != leader and LEADS in "".join(r.log)],
                   timeout=15, what="another replica to lead the scheduler")
        actions = {name: action for name, (action, _) in cards.items()}
        settle(engine, fake_slack, kube, actions, slot)
        print(f"settled {time.monotonic() - killed_at:.1f}s after the kill; storm: {storm.answered} deliveries "
              f"answered, {storm.retries} attempts sent again")
        outcome = _outcome(engine, fake_slack, kube, actions, slot)
    finally:
        storm.stop.set()
        engine.dispose()
    assert storm.refused == [] and ("/alerts/alertmanager", leader) in lb.forwarded   # it took part in the storm
    critical = outcome.pop("critical alerts")
    assert len(critical) == CRITICAL
    ran = outcome.pop("rollbacks (state, patches)")
    print(f"rollbacks (state, patches): {ran}")
    # One comparison, so a failure shows every broken promise at once.
    assert outcome == {
        "stored": storm.accepted + CRITICAL,                 # nothing lost, nothing counted twice on a resend
        "messages posted twice": [], "alert cards posted twice": [],
        "escalation steps (alert, step) taken": {(a, s): 1 for a in critical for s in (1, 2)},
        "checklist runs of the slot at the kill": 1, "checklist runs posted twice": [],
        "checklist reports without a run, or runs without a report": 0,
        "rollback outcomes audited": {name: 1 for name in SERVICES},
    }
    # Each Confirm at the kill ran once (succeeded, patched once) or was marked interrupted (patched at most
    # once, never re-applied by the second click).
    assert all(r in {("succeeded", 1), ("interrupted", 0), ("interrupted", 1)} for r in ran.values()), ran


def kill_at_the_confirms(lb: RoundRobin, victim: BotProcess, index: int, fake_slack: FakeSlack,
                         cards: dict[str, tuple[str, str]]) -> None:
    """Both Confirms go to the victim, which dies (kill -9) the moment it has acknowledged the first and
    received the second; then the user, seeing nothing happen, clicks both again."""
    answers: dict[str, list[int | None]] = {name: [] for name in SERVICES}
    lb.steer("/slack/events", index)
    click(lb, fake_slack, cards["backend"], answers["backend"])          # acknowledged by the victim
    reached = lb.steer("/slack/events", index)
    clicking = threading.Thread(target=click, args=(lb, fake_slack, cards["frontend"], answers["frontend"]),
                                daemon=True)
    clicking.start()
    assert reached.wait(10), "the second click never reached the replica to kill"
    victim.kill()
    clicking.join(15)
    for name in SERVICES:
        click(lb, fake_slack, cards[name], answers[name])
    print(f"killed replica {index} (the scheduler's leader); click answers {answers}")


def settle(engine: Engine, fake_slack: FakeSlack, kube: KubeApi, actions: dict[str, str],  # noqa: F811
           slot: datetime) -> None:
    """Wait for the survivors to finish everything: rollbacks (the test plays the Deployment controller once a
    rollback patched), escalation steps, the checklist slot at the kill, the outbox."""
    controlled: set[str] = set()

    def ended(name: str) -> bool:
        if name not in controlled and _rollbacks(kube, name):
            controlled.add(name)
            kube.set_status("apps/v1/deployments", "prod", name, {
                "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3, "availableReplicas": 3})
        state = db_row(engine, f"SELECT state FROM pending_actions WHERE id = '{actions[name]}'")[0]
        return state not in ("awaiting_confirmation", "running")

    wait_until(lambda: all(ended(name) for name in SERVICES), timeout=30,
               what="both confirmed rollbacks to end (succeeded or interrupted)")
    wait_until(lambda: len(fake_slack.messages(fake_slack.im("U0LEAD"))) >= 2 * CRITICAL, timeout=45,
               what="every escalation step's direct message")
    wait_until(lambda: db_row(engine, "SELECT count(*) FROM checklist_runs WHERE scheduled_for = "
                                      f"'{slot.isoformat()}' AND posted_at IS NOT NULL")[0],
               timeout=45, what="the checklist slot that fell due at the kill to be posted")
    # A message claimed by the killed replica is sent once its claim lapses (30 s): the longest wait here.
    wait_until(lambda: undelivered(engine) == 0, timeout=45, what="the outbox to deliver everything")


def propose(lb: RoundRobin, fake_slack: FakeSlack, service: str) -> tuple[str, str]:
    """`/ops rollback SERVICE` as Carol through the balancer; the Confirm button's value (the action id) and the
    card's ts (the fake answers the n-th chat.postMessage with ts 1700000000.00000n)."""
    body = slash_body(f"rollback {service}", user="U0CAROL", response_url=f"{fake_slack.url}/response/{service}")
    assert httpx.post(f"{lb.url}/slack/events", content=body, headers=signed_headers(body),
                      timeout=10).status_code == 200

    def card() -> list[tuple[int, Any]]:
        return [(n, c) for n, c in enumerate(fake_slack.named("chat.postMessage", ok_only=True), start=1)
                if f"Roll back {service}?" in json.dumps(c.body.get("blocks", []))]

    n, found = wait_until(card, timeout=30, what=f"the confirmation card for {service}")[0]
    value = [e for b in found.body["blocks"] if b["type"] == "actions" for e in b["elements"]][0]["value"]
    return str(value), f"1700000000.{n:06d}"


def click(lb: RoundRobin, fake_slack: FakeSlack, card: tuple[str, str],
          answers: list[int | None]) -> None:
    """Alice clicks Confirm on the card (through the balancer); the answer's status, None if there was none."""
    action, ts = card
    body = action_body("ops.confirm", action, user="U0ALICE", message_ts=ts,
                       response_url=f"{fake_slack.url}/response/click-{action}-{len(answers)}")
    try:
        answers.append(httpx.post(f"{lb.url}/slack/events", content=body, headers=signed_headers(body),
                                  timeout=10).status_code)
    except httpx.TransportError:
        answers.append(None)


def _rollbacks(api: KubeApi, name: str) -> int:
    """Changes to the Deployment's pod template (a rollback's patch), not the status the test sets."""
    templates = [v["spec"]["template"] for v in api.history("apps/v1/deployments", "prod", name)]
    return sum(a != b for a, b in zip(templates, templates[1:], strict=False))


def _outcome(engine: Engine, fake_slack: FakeSlack, api: KubeApi, actions: dict[str, str],
             slot: datetime) -> dict[str, Any]:
    posts = fake_slack.named("chat.postMessage", ok_only=True)
    keys = Counter(json.dumps([p.body.get("channel"), p.body.get("thread_ts"), p.body.get("text"),
                               p.body.get("blocks")], sort_keys=True) for p in posts)
    cards = Counter(int(m.group(1)) for p in posts
                    if (m := re.search(r"alert #(\d+) from", json.dumps(p.body.get("blocks", [])))))
    steps = Counter((int(m.group(2)), int(m.group(1))) for m in (
        re.search(r"escalation step (\d+) of \d+\)\..*Alert #(\d+)", msg.text)
        for msg in fake_slack.messages(fake_slack.im("U0LEAD"))) if m)
    reports = [p for p in posts if p.body.get("channel") == "C0CHECKS" and "thread_ts" not in p.body]
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT coalesce(sum(count), 0) FROM alerts")).scalar_one()
        critical = sorted(int(i) for (i,) in conn.execute(text("SELECT id FROM alerts WHERE severity = 'P1'")))
        runs = Counter(r.scheduled_for.astimezone(UTC) for r in conn.execute(text(
            "SELECT scheduled_for FROM checklist_runs WHERE checklist = 'pulse' AND posted_at IS NOT NULL")))
        states = {name: conn.execute(text(f"SELECT state FROM pending_actions WHERE id = '{action}'")).scalar()
                  for name, action in actions.items()}
        audited = {name: conn.execute(text("SELECT count(*) FROM audit_log WHERE source = 'operation' AND "
                                           f"subcommand = 'rollback' AND command LIKE '%{name}%'")).scalar()
                   for name in actions}
    return {
        "stored": int(stored),
        "messages posted twice": sorted(k for k, n in keys.items() if n > 1),
        "alert cards posted twice": sorted(a for a, n in cards.items() if n > 1),
        "escalation steps (alert, step) taken": dict(steps),
        "critical alerts": critical,
        "checklist runs of the slot at the kill": runs[slot],
        "checklist runs posted twice": sorted(str(s) for s, n in runs.items() if n > 1),
        "checklist reports without a run, or runs without a report": len(reports) - sum(runs.values()),
        "rollback outcomes audited": audited,
        "rollbacks (state, patches)": {name: (states[name], _rollbacks(api, name)) for name in actions},
    }
