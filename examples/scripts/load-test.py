"""Stand-in for the team's `node scripts/load-test.js`: prints results within the runbook's baselines, sends no
request (see standin.py)."""
from __future__ import annotations

import os
import random
import sys

from standin import Script

# endpoint -> (requests per second, p95 in ms): the runbook's expected ranges
BASELINES = {"rest_api": ((40, 50), (20, 35)), "encrypt_data": ((25, 35), (35, 50)),
             "create_payment_method": ((40, 45), (20, 30))}


def main() -> int:
    run = Script("load-test")
    url = os.environ.get("SUPABASE_URL")
    if not url:
        print("[load-test] error: SUPABASE_URL is not set", file=sys.stderr, flush=True)
        return 1
    run.say(f"load test against {url} for 15 s per endpoint, 50 virtual users (stand-in: no request is sent)")
    rng = random.Random(7)
    for name, ((rps_low, rps_high), (p95_low, p95_high)) in BASELINES.items():
        rps, p95 = rng.uniform(rps_low, rps_high), rng.uniform(p95_low, p95_high)
        run.step(name, f"{name}: {rps:.1f} req/s, p95 {p95:.0f} ms, errors 0.0 %", "within baseline")
    run.report("load-test")
    return run.done("PASS: every endpoint within its baseline")


if __name__ == "__main__":
    sys.exit(main())
