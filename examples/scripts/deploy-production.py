"""Stand-in for the team's `node scripts/deploy-production.js`: the production deploy, which also runs the
health checks the runbook reads (see standin.py). Nothing is deployed."""
from __future__ import annotations

import os
import sys

from standin import CURRENT, FUNCTIONS, KMS_ALIAS, Script

NEW = "b7d2e915"


def main() -> int:
    run = Script("deploy")
    run.say("Parker Flight production deployment (stand-in: nothing is deployed)")
    run.say(f"SUPABASE_URL {os.environ.get('SUPABASE_URL') or 'NOT SET'}, SUPABASE_ANON_KEY "
            f"{run.secret('SUPABASE_ANON_KEY')}, SUPABASE_ACCESS_TOKEN {run.secret('SUPABASE_ACCESS_TOKEN')}")
    run.step("git", f"1/6 git: main is clean at {NEW} (production runs {CURRENT})")
    run.step("tests", "2/6 tests: 214 passed")
    run.step("functions", f"3/6 edge functions: deploy {', '.join(FUNCTIONS)}")
    run.step("kms", f"4/6 KMS: encrypt/decrypt round trip with {KMS_ALIAS}")
    run.step("health", "5/6 health: REST API 200 in 31 ms, encrypt-data 200 in 44 ms, create-payment-method 200 in "
             "27 ms")
    run.step("report", "6/6 deployment report")
    run.report("deployment")
    return run.done(f"deployed {NEW}")


if __name__ == "__main__":
    sys.exit(main())
