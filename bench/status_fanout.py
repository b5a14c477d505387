"""How long `/ops status` takes against slow services, next to the floor (the slowest single check).

Prints one line per scenario: services x per-check delay -> wall time and its ratio to the slowest check.
Real HTTP on loopback; nothing is mocked. Run with `make bench`.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from bot.app import build_runtime  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.settings import Settings  # noqa: E402
from commands import execute  # noqa: E402
from commands.base import CommandContext  # noqa: E402
from tests.fakes.board import RecordingBoard  # noqa: E402
from tests.fakes.health_targets import HealthTargets  # noqa: E402

SCENARIOS = [(20, 1.0), (50, 0.2), (100, 0.2)]
ROUNDS = 3


def main() -> None:
    targets = HealthTargets()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp}/bench.db"})
        print(f"{'services':>8} {'delay':>6} {'median wall':>12} {'x slowest':>10}")
        for count, delay in SCENARIOS:
            config = parse_config({"services": [
                {"name": f"svc-{i}", "health": {"url": f"{targets.url}/slow?s={delay}", "timeout": "5s"}}
                for i in range(count)]})
            rt = build_runtime(settings, config, board=lambda sessions, clock: RecordingBoard())
            ctx = CommandContext(rt=rt, user_id="UBENCH", channel_id=None)
            walls = []
            for _ in range(ROUNDS):
                started = time.monotonic()
                reply = execute(ctx, "status", source="bench")
                walls.append(time.monotonic() - started)
                assert f"All {count} service(s) OK" in reply.text, reply.text[:200]
            wall = statistics.median(walls)
            print(f"{count:>8} {delay:>5.1f}s {wall:>11.2f}s {wall / delay:>9.2f}x")
            rt.engine.dispose()
    targets.close()


if __name__ == "__main__":
    main()
