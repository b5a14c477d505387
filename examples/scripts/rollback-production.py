"""Stand-in for the team's `node scripts/rollback-production.js`: same options, same kind of progress, and
nothing changed (see standin.py).

    --reason TEXT     required: why (it goes into the rollback report)
    --emergency       skip the slow health gates (the runbook's < 10 s rollback)
    --target HASH     roll back to this commit instead of the previous deployment
    --dry-run         plan only: say what would happen
"""
from __future__ import annotations

import argparse
import re
import sys

from standin import CURRENT, FUNCTIONS, KMS_ALIAS, PREVIOUS, Script


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rollback-production.js")
    parser.add_argument("--reason", required=True)
    parser.add_argument("--emergency", action="store_true")
    parser.add_argument("--target")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    if args.target is not None and not re.fullmatch(r"[0-9a-f]{7,40}", args.target):
        parser.error(f"--target must be a commit hash, not {args.target!r}")
    run = Script("rollback")
    target = args.target or PREVIOUS
    would = "would " if args.dry_run else ""
    run.say("Parker Flight production rollback (stand-in: nothing is changed)")
    run.say(f"reason: {args.reason}")
    run.say("mode: " + ("emergency, health gates shortened" if args.emergency else "standard"))
    if args.dry_run:
        run.say("DRY RUN: planning only")
    run.say(f"current deployment: {CURRENT}")
    run.say(f"target: {target}" + ("" if args.target else " (the previous good deployment)"))
    run.step("git", f"1/4 git: {would}check out {target}")
    run.step("functions", f"2/4 edge functions: {would}redeploy {', '.join(FUNCTIONS)}")
    run.step("kms", f"3/4 KMS: {KMS_ALIAS} answers")
    gates = "REST API 200 in 27 ms" if args.emergency else "REST API 200 in 27 ms, encrypt-data 200 in 41 ms, " \
        "create-payment-method 200 in 24 ms"
    run.step("health", f"4/4 health: {gates}")
    if args.dry_run:
        return run.done("dry run complete: nothing changed")
    run.report("rollback")
    return run.done(f"rolled back {CURRENT} -> {target}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
