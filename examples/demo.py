"""`make demo`: start the demo's local services, then run `opsbot console` on examples/demo.yaml.

If the demo's usual port is taken, the services move to a free port and the config is rewritten to match.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from demo_targets import DEFAULT_PORT, start  # noqa: E402

from bot.cli import main  # noqa: E402

if __name__ == "__main__":
    try:
        server = start(DEFAULT_PORT)
    except OSError:
        server = start(0)
    port = server.server_address[1]
    config = (HERE / "demo.yaml").read_text().replace(f"127.0.0.1:{DEFAULT_PORT}", f"127.0.0.1:{port}")
    os.environ.setdefault("DATABASE_URL", "sqlite:///demo.db")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.yaml"
        path.write_text(config)
        try:
            code = main(["console", "--config", str(path), *sys.argv[1:]])
        finally:
            server.shutdown()
    raise SystemExit(code)
