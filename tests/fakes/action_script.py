"""A stand-in for a team's script, run by command actions in tests: it records exactly the argv and environment
it was given (JSON, to the file named by $RECORD_TO), then behaves as its first argument says.

    ok N       print N numbered lines (and $API_TOKEN once, which the bot must mask), exit 0
    fail       print to stdout and stderr, exit 3
    hang       start a child in the same process group, write both pids to $RECORD_TO.pids, sleep
    echo ...   print the other arguments, one per line, exit 0
"""
import json
import os
import signal
import subprocess
import sys


def main() -> int:
    record = os.environ.get("RECORD_TO")
    if record:
        with open(record, "a", encoding="utf-8") as f:
            f.write(json.dumps({"argv": sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd()}) + "\n")
    mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
    if mode == "ok":
        count = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 3
        for i in range(1, count + 1):
            print(f"line {i}", flush=True)
        print(f"token is {os.environ.get('API_TOKEN', '-')}", flush=True)
        return 0
    if mode == "fail":
        print("checking the release", flush=True)
        print("error: release v41 not found", file=sys.stderr, flush=True)
        return 3
    if mode == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open(f"{record}.pids", "w", encoding="utf-8") as f:
            json.dump([os.getpid(), child.pid], f)
        print("waiting forever", flush=True)
        signal.pause()                      # until the bot's timeout signals the whole process group
        return 0
    if mode == "echo":
        for arg in sys.argv[2:]:
            print(arg, flush=True)
        return 0
    print(f"unknown mode {mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
