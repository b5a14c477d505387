"""One escalation pass as its own OS process, at a given instant: `python escalate_once.py DB_URL CONFIG ISO_TIME`,
then an outbox pass that sends the queued notices. Prints the alert ids whose step this process took, and
`incident:<id>` for an incident's step (used to show two processes never take the same step, nor send the
same notice)."""
import json
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))

from bot.config import load_config  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.alerts.workers import escalator, outbox, slack_runtime  # noqa: E402

if __name__ == "__main__":
    db_url, config, at, slack = sys.argv[1], Path(sys.argv[2]), datetime.fromisoformat(sys.argv[3]), sys.argv[4]
    settings = Settings.from_env({"DATABASE_URL": db_url, "SLACK_BOT_TOKEN": "xoxb-x", "SLACK_API_URL": slack})
    rt = slack_runtime(settings, load_config(config), clock=lambda: at, migrate=False)
    sys.stdin.readline()                          # start together: the parent releases both at once
    taken = [step.alert_id if step.alert_id is not None else f"incident:{step.incident_id}"
             for step in escalator(rt).run_once()]
    box = outbox(rt, interval_s=0)
    while box.run_once():
        pass
    print(json.dumps(taken))
