"""One bot replica's scheduler as its own OS process, on a clock the test moves:
`python scheduler_replica.py DB_URL CONFIG CLOCK_FILE SLACK_API_URL`.

Time is frozen with freezegun at the ISO instant in CLOCK_FILE and moved whenever the file changes (a week
cannot pass for real here); the scheduler, its leader election and its Slack posting are the bot's own
code, unchanged. Prints `standby`, `leading` and `slots N` lines as they change."""
import sys
import threading
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))

from freezegun import freeze_time  # noqa: E402

from bot.config import load_config  # noqa: E402
from bot.settings import Settings  # noqa: E402
from schedules.scheduler import ScheduleRunner  # noqa: E402
from tests.alerts.workers import slack_runtime  # noqa: E402


def read(path: Path) -> datetime:
    return datetime.fromisoformat(path.read_text().strip())


def main(db_url: str, config: Path, clock_file: Path, slack: str) -> None:
    now = read(clock_file)
    with freeze_time(now, real_asyncio=True, ignore=["kubernetes"]) as frozen:
        settings = Settings.from_env({"DATABASE_URL": db_url, "SLACK_BOT_TOKEN": "xoxb-x", "SLACK_API_URL": slack})
        rt = slack_runtime(settings, load_config(config), migrate=False)
        stop = threading.Event()
        runner = ScheduleRunner(rt)
        runner.step()                                   # the first attempt, before reporting a state
        threading.Thread(target=runner.run_forever, args=(stop,), daemon=True).start()
        shown: tuple[bool, int] | None = None
        while True:
            state = (runner.leading, runner.slots_done)
            if state != shown:
                if shown is None or state[0] != shown[0]:
                    print("leading" if state[0] else "standby", flush=True)
                if shown is not None and state[1] != shown[1]:
                    print(f"slots {state[1]}", flush=True)
                shown = state
            moved = read(clock_file)
            if moved != now:
                now = moved
                frozen.move_to(now)
                runner.wakeup()
            stop.wait(0.02)                             # threading waits run on real time under freezegun


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
