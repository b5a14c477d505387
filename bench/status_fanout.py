"""How long `/ops status` takes over many slow services, beside its floor: one check alone, in the same run.

For each scenario (services x per-check delay) it measures, through the real command path:
- the floor: `/ops status <one service>` alone (median of FLOOR_ROUNDS), the slowest single check;
- the fan-out: `/ops status` over every service (median of ROUNDS);
and prints their ratio beside the bound (BOUND: at most 1.3x the slowest single check).

The health endpoints are real HTTP on loopback, served from a separate process as real services would be
(so the fake's own threads do not share the bot's interpreter). Nothing is mocked. Run with `make bench`.
Prints; does not gate (exit 0 whatever the figures).
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from summary import record  # bench/ is on sys.path first

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from bot.app import build_runtime  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.settings import Settings  # noqa: E402
from commands import execute  # noqa: E402
from commands.base import CommandContext  # noqa: E402
from tests.fakes.board import RecordingBoard  # noqa: E402

SCENARIOS = [(50, 0.2), (100, 0.2)]
ROUNDS = 5
FLOOR_ROUNDS = 5
BOUND = 1.3
SERVE_TARGETS = ("import sys; from tests.fakes.health_targets import HealthTargets; t = HealthTargets(); "
                 "print(t.url, flush=True); sys.stdin.read(); t.close()")


def _timed(ctx: CommandContext, line: str, expect: str) -> float:
    started = time.monotonic()
    reply = execute(ctx, line, source="bench")
    took = time.monotonic() - started
    assert expect in reply.text, reply.text[:300]
    return took


def scenario(settings: Settings, url: str, count: int, delay: float) -> tuple[float, float]:
    """(floor, fan-out): median seconds of one check alone and of all `count` checks at once."""
    config = parse_config({"services": [
        {"name": f"svc-{i}", "health": {"url": f"{url}/slow?s={delay}", "timeout": "5s"}} for i in range(count)]})
    rt = build_runtime(settings, config, board=lambda sessions, clock: RecordingBoard())
    try:
        ctx = CommandContext(rt=rt, user_id="UBENCH", channel_id=None)
        _timed(ctx, "status svc-0", "All 1 service(s) OK")           # warm: the HTTP client, the first audit row
        floor = statistics.median(_timed(ctx, f"status svc-{i}", "All 1 service(s) OK") for i in range(FLOOR_ROUNDS))
        walls = [_timed(ctx, "status", f"All {count} service(s) OK") for _ in range(ROUNDS)]
        return floor, statistics.median(walls)
    finally:
        rt.engine.dispose()


def main() -> None:
    targets = subprocess.Popen([sys.executable, "-c", SERVE_TARGETS], cwd=ROOT, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert targets.stdout is not None
        url = targets.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp}/bench.db"})
            print(f"/ops status fan-out (median of {ROUNDS}) beside one check alone (median of {FLOOR_ROUNDS}), "
                  f"bound {BOUND}x")
            print(f"{'services':>8} {'delay':>6} {'one check':>10} {'all':>8} {'ratio':>7}  verdict")
            for count, delay in SCENARIOS:
                floor, wall = scenario(settings, url, count, delay)
                ratio = wall / floor
                verdict = "meets" if ratio <= BOUND else f"MISSES the {BOUND}x bound"
                print(f"{count:>8} {delay * 1000:>4.0f}ms {floor:>9.3f}s {wall:>7.3f}s {ratio:>6.2f}x  {verdict}")
                record(f"/ops status, {count} services of {delay * 1000:.0f} ms (median of {ROUNDS})",
                       f"{wall:.3f} s", peer=f"one check alone {floor:.3f} s", ratio=ratio, bound=f"<= {BOUND}x",
                       met=ratio <= BOUND)
    finally:
        if targets.stdin is not None:
            targets.stdin.close()
        targets.wait(timeout=10)


if __name__ == "__main__":
    main()
