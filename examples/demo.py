"""`make demo`: start the demo's local services, then run `opsbot console` on examples/demo.yaml."""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from demo_targets import start  # noqa: E402

from bot.cli import main  # noqa: E402

if __name__ == "__main__":
    server = start()
    os.environ.setdefault("DATABASE_URL", "sqlite:///demo.db")
    try:
        code = main(["console", "--config", str(Path(__file__).parent / "demo.yaml"), *sys.argv[1:]])
    finally:
        server.shutdown()
    raise SystemExit(code)
