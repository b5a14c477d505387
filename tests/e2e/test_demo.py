"""`make demo` shows the whole job: an alarm through the real Alertmanager receiver, its card acknowledged and
escalated by pressing numbered buttons, and a rollback planned, confirmed and finished on the demo's emulated
Kubernetes API. Run as `make demo` runs it (examples/demo.py), on stdin, with no credentials."""
import os
import re
import subprocess
import sys
import threading

from tests.e2e.conftest import ROOT
from tests.waiting import wait_until

SHORTCODE = re.compile(r":[a-z][a-z0-9_+-]*:")          # a Slack emoji shortcode left untranslated


def _env(tmp_path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),    # this checkout's code
            "DATABASE_URL": f"sqlite:///{tmp_path}/demo.db"}


def _in_order(out: str, *steps: str) -> None:
    at = 0
    for step in steps:
        found = out.find(step, at)
        assert found >= 0, f"{step!r} missing after position {at}:\n{out}"
        at = found + len(step)


def test_an_alarm_is_acknowledged_and_a_rollback_confirmed_and_finished(tmp_path):
    script = ("/ops demo alert critical\n1\n1\n/ops rollback backend\n5\n/ops status backend\n/ops oncall\n"
              "/ops alert list\n")
    result = subprocess.run([sys.executable, "examples/demo.py", "--user", "U0ALICE"], input=script,
                            capture_output=True, text=True, cwd=ROOT, timeout=90, env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    _in_order(out,
              "Alertmanager fired a critical alarm", "alert #1",
              "🚨 P1 · backend 5xx rate is 12% (threshold 5%) — FIRING",
              "[1] Acknowledge", "[2] Resolve", "[3] Escalate", "[4] Silence 1h",
              "@U0ALICE acknowledged alert #1", "— ACKNOWLEDGED", "[2] Resolve",
              "[1] Acknowledge is no longer on its card",          # the second [1] resolves nothing
              "Roll back backend?",
              "revision 3 (registry.example.com/backend:1.4.2)  →  revision 2 (registry.example.com/backend:1.4.1)",
              "[5] Confirm rollback", "[6] Cancel",
              "Confirmed: roll back deployment/backend in demo",
              "waiting for the rollout…",
              "Rollback of backend done: rollout finished: 3/3 ready (image registry.example.com/backend:1.4.1)",
              "🟢 backend — ok", "kubernetes: 3/3 ready",
              "On call now: @U0ALICE",
              "#1 P1 backend 5xx rate is 12% (threshold 5%) — acknowledged")
    assert "RESOLVED" not in out and "resolved alert" not in out
    assert not SHORTCODE.findall(out), SHORTCODE.findall(out)
    assert "Traceback" not in result.stderr
    assert " INFO " not in result.stderr, result.stderr        # the console's log level is WARNING by default


def test_escalate_on_the_alarm_card_notifies_whoever_is_on_call(tmp_path):
    proc = subprocess.Popen([sys.executable, "examples/demo.py", "--user", "U0BOB"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(tmp_path))
    printed: list[str] = []
    reader = threading.Thread(target=lambda: printed.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        assert proc.stdin is not None
        proc.stdin.write("/ops demo alert critical\n3\n")
        proc.stdin.flush()
        # The escalator takes the step in the background: the on-call person (the rotation's U0ALICE) is told
        # under the card and by direct message.
        wait_until(lambda: "(direct message to @U0ALICE)" in "".join(printed), timeout=30,
                   what="the escalation's direct message")
        proc.stdin.write("quit\n")
        proc.stdin.close()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(5)
    out = "".join(printed)
    _in_order(out, "[3] Escalate", "@U0BOB escalated alert #1", "(direct message to @U0ALICE)")
    assert "escalation step 1 of 2" in out
    assert "<!here>" not in out and not SHORTCODE.findall(out)
