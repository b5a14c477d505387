"""Two bot replicas (two OS processes) on one PostgreSQL over a simulated week: every scheduled slot is
posted exactly once, and when the leader is killed the standby leads within the stated bound
(`scheduler.leader_poll`, 1 s here, plus process and database latency: asserted under 4 s)."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import String, cast, select

from bot.storage.db import session_scope
from bot.storage.models import ChecklistRun, SlackCard
from tests.e2e.conftest import ROOT
from tests.waiting import wait_until

TAKEOVER_BOUND_S = 4.0


class Replica:
    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        with log.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests/e2e/scheduler_replica.py"), *args],
                                         stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    @property
    def slots(self) -> int:
        done = [int(line.split()[1]) for line in self.lines if line.startswith("slots ")]
        return done[-1] if done else 0

    def wait_line(self, text: str, *, timeout: float = 20) -> None:
        wait_until(lambda: text in self.lines, timeout=timeout,
                   what=f"{text!r} from a replica; it said {self.lines}; its log: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def config(targets: Any) -> dict[str, Any]:
    checks = [{"check": "http", "service": "backend"}, {"check": "manual", "text": "Look at the dashboards"}]
    return {"timezone": "Europe/Berlin", "channels": {"default": "C0ONCALL"},
            "scheduler": {"leader_poll": "1s"},
            "services": [{"name": "backend", "health": {"url": f"{targets.url}/healthy"}}],
            "checklists": {"morning": {"schedule": "0 9 * * *", "checks": checks},
                           "evening": {"schedule": "0 21 * * *", "checks": checks}}}


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_replicas_post_every_slot_once_over_a_week_and_a_standby_takes_over(
        db_url, make_runtime, fake_slack, health_targets, tmp_path):
    rt = make_runtime(config(health_targets))                  # migrates the schema the replicas share
    path = tmp_path / "ops.yaml"
    path.write_text(yaml.safe_dump(config(health_targets)))
    clock = tmp_path / "clock"

    def set_clock(at: datetime) -> None:
        (tmp_path / "clock.new").write_text(at.isoformat())
        (tmp_path / "clock.new").replace(clock)                # atomic: a replica never reads half a time

    set_clock(datetime(2026, 11, 23, 6, 0, tzinfo=UTC))        # Mon 07:00 in Berlin (CET, UTC+1 all week)
    args = [db_url, str(path), str(clock), fake_slack.api_url]
    leader = Replica(args, tmp_path / "a.log")
    standby: Replica | None = None
    try:
        leader.wait_line("leading")
        standby = Replica(args, tmp_path / "b.log")
        standby.wait_line("standby")
        slots = [datetime(2026, 11, 23 + day, hour, 0, tzinfo=UTC) for day in range(7) for hour in (8, 20)]
        done_before = 0                                        # slots the current leader had finished
        for i, slot in enumerate(slots, start=1):
            set_clock(slot)
            fake_slack.wait_for(lambda c: c.name == "chat.postMessage" and "thread_ts" not in c.body, n=i,
                                timeout=20)
            wait_until(lambda: leader.slots > done_before, timeout=20,   # noqa: B023 (called at once)
                       what="the leader to finish the slot")
            done_before = leader.slots
            if slot == datetime(2026, 11, 25, 20, 0, tzinfo=UTC):      # Wednesday evening: the leader dies
                assert standby is not None
                leader.stop()
                started = time.monotonic()
                standby.wait_line("leading", timeout=15)
                took = time.monotonic() - started
                print(f"standby took over {took:.2f}s after the leader was killed")
                assert took < TAKEOVER_BOUND_S
                leader, standby, done_before = standby, None, 0
    finally:
        for replica in (leader, standby):
            if replica is not None:
                replica.stop()
    posted = [c.body for c in fake_slack.named("chat.postMessage") if "thread_ts" not in c.body]
    assert len(posted) == len(slots)                           # one report per slot, none twice
    with session_scope(rt.sessions) as session:
        runs = session.execute(select(ChecklistRun.checklist, ChecklistRun.scheduled_for, ChecklistRun.trigger,
                                      ChecklistRun.posted_at, SlackCard.ts)
                               .join(SlackCard, (SlackCard.kind == "checklist")
                                     & (SlackCard.key == cast(ChecklistRun.id, String)))).all()
    assert sorted(r.scheduled_for for r in runs) == slots
    assert {r.checklist for r in runs if r.scheduled_for.hour == 8} == {"morning"}
    assert all(r.trigger == "schedule" and r.posted_at and r.ts for r in runs)
    assert len({r.ts for r in runs}) == len(slots)
