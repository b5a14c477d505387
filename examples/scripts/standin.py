"""What the Parker Flight stand-ins share. They stand in for the team's Node scripts (scripts/*.js in their
repository) so that `/ops run` can be tried without that repository: each prints the progress lines its
original prints, and changes nothing. They write no file, reach no network and never print a secret's value,
only whether it is set.

The environment is all they read, as an action gives it (`env:`):
  STANDIN_DELAY   seconds between progress lines (default 0.3), so the bot's streaming can be seen
  STANDIN_FAIL    the name of a step to fail (exit code 1), to see a failed outcome
"""
from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime

CURRENT = "9f3c2ab1"          # the deployment "in production"
PREVIOUS = "4e81d07c"         # the last good one before it
KMS_ALIAS = "alias/parker-flight-general-production"
FUNCTIONS = ("encrypt-data", "create-payment-method")


class Script:
    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.started = time.monotonic()
        self.delay = float(os.environ.get("STANDIN_DELAY", "0.3"))
        self.fail_at = os.environ.get("STANDIN_FAIL", "")

    def say(self, text: str) -> None:
        print(f"[{self.tag}] {text}", flush=True)

    def step(self, name: str, text: str, result: str = "ok") -> None:
        """One step: its line, a pause, and its result; exits with 1 when STANDIN_FAIL names it."""
        time.sleep(self.delay)
        if name == self.fail_at:
            print(f"[{self.tag}] {text} ... FAILED", flush=True)
            print(f"[{self.tag}] error: {name} failed (STANDIN_FAIL={name}); nothing was changed", file=sys.stderr,
                  flush=True)
            sys.exit(1)
        self.say(f"{text} ... {result}")

    def secret(self, name: str) -> str:
        return "set" if os.environ.get(name) else "NOT SET"

    def report(self, kind: str) -> None:
        self.say(f"report: {kind}-report-{stamp()}.json (stand-in: not written)")

    def done(self, text: str) -> int:
        self.say(f"{text} in {time.monotonic() - self.started:.1f} s")
        return 0


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
