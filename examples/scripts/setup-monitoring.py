"""Stand-in for the team's `node scripts/setup-monitoring.js`: says which dashboards and alarms exist, creates
none (see standin.py)."""
from __future__ import annotations

import sys

from standin import Script


def main() -> int:
    run = Script("monitoring")
    run.say("Parker Flight monitoring setup (stand-in: nothing is created)")
    run.step("dashboard", "dashboard parker-flight-production", "present")
    for alarm in ("error-rate-above-1pct", "p95-above-100ms", "kms-failures-above-5pct", "db-connections-above-80"):
        run.step(alarm, f"alarm parker-flight-{alarm}", "present")
    return run.done("monitoring is set up")


if __name__ == "__main__":
    sys.exit(main())
