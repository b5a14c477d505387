"""/ops demo alert [critical|warning] — `make demo` only: fire an alarm as Prometheus Alertmanager would.

The alert is an Alertmanager webhook body handed to the real receiver (bot.alerts.receive, the code behind
POST /alerts/alertmanager), so it is parsed, deduplicated, stored, routed and escalated like any other, and
its card (Acknowledge / Resolve / Escalate / Silence) is posted by the outbox. Registered only by
`opsbot console --demo` (commands.enable_demo), never under `serve` or `socket`.
"""
from __future__ import annotations

import json
import time

from bot.alerts.receive import Receivers
from bot.errors import OpsError, UsageError
from bot.reply import Reply, text_reply
from commands.base import CommandContext, Subcommand

USAGE = "/ops demo alert [critical|warning]"
CARD_WAIT_S = 10.0                 # how long the answer waits for the outbox to post the alert's card
ALARMS = {
    "critical": ("BackendHighErrorRate", "backend 5xx rate is 12% (threshold 5%)",
                 "The flight search API has answered 5xx to 12% of requests for 5 minutes."),
    "warning": ("BackendSlowResponses", "backend p95 latency is 1.8 s (threshold 1 s)",
                "The flight search API's 95th percentile latency has been above 1 s for 10 minutes."),
}


def body(severity: str, *, now_ns: int) -> bytes:
    """An Alertmanager (version 4) webhook body with one firing alert; each call makes a new alert."""
    name, summary, description = ALARMS[severity]
    alert = {"status": "firing", "fingerprint": f"demo-{severity}-{now_ns}",
             "labels": {"alertname": name, "severity": severity, "service": "backend", "namespace": "demo"},
             "annotations": {"summary": summary, "description": description,
                             "runbook_url": "https://runbooks.example.com/backend/errors"},
             "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_ns / 1e9)),
             "generatorURL": "http://prometheus.demo/graph"}
    return json.dumps({"version": "4", "status": "firing", "receiver": "opsbot", "groupKey": f"demo:{now_ns}",
                       "alerts": [alert]}).encode()


def run(ctx: CommandContext, args: list[str]) -> Reply:
    if not args or args[0].lower() != "alert" or len(args) > 2:
        raise UsageError("Try `/ops demo alert critical` or `/ops demo alert warning`.")
    severity = args[1].lower() if len(args) == 2 else "critical"
    if severity not in ALARMS:
        raise UsageError(f"No demo alarm {severity[:20]!r}: pick critical or warning.")
    status, answer = Receivers(ctx.rt.alerts).handle("alertmanager", body(severity, now_ns=time.time_ns()),
                                                     {"Content-Type": "application/json"})
    if status != 202 or not answer.get("alerts"):
        raise OpsError(f"The alert receiver refused the demo alarm ({status}: {answer.get('error', answer)}).")
    alert_id = int(answer["alerts"][0])
    posted = _card_posted(ctx, alert_id)
    then = "its card follows" if posted else "its card is on its way"
    return text_reply(f":rotating_light: Alertmanager fired a {severity} alarm into POST /alerts/alertmanager: "
                      f"alert #{alert_id}; {then}. Press its buttons, or try `/ops alert list`.")


def _card_posted(ctx: CommandContext, alert_id: int) -> bool:
    """Wait (bounded) for the outbox to post the card, so the card comes before the next prompt."""
    deadline = time.monotonic() + CARD_WAIT_S
    while time.monotonic() < deadline:
        if ctx.rt.alerts.get(alert_id).notified_at is not None:
            return True
        time.sleep(0.05)
    return False


COMMAND = Subcommand(name="demo", usage=USAGE, summary="(demo only) fire an Alertmanager alarm at the bot", run=run)
