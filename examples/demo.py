"""`make demo`: start the demo's local services, then run `opsbot console --demo` on examples/demo.yaml.

The local services: the health endpoints of examples/demo_targets.py, and a small emulated Kubernetes API
(examples/demo_kube.py) that `backend` is deployed on, with a kubeconfig pointing at it. If the demo's usual
port is taken, the services move to a free port and the config is rewritten to match. `--demo` makes the
console deliver alarms (outbox and escalator) and adds `/ops demo alert [critical|warning]`.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import demo_kube  # noqa: E402
from demo_targets import DEFAULT_PORT, start  # noqa: E402

from bot.cli import main  # noqa: E402

if __name__ == "__main__":
    try:
        server = start(DEFAULT_PORT)
    except OSError:
        server = start(0)
    kube = demo_kube.start()
    port = server.server_address[1]
    os.environ.setdefault("DATABASE_URL", "sqlite:///demo.db")
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text(demo_kube.kubeconfig(f"http://127.0.0.1:{kube.server_address[1]}"))
        config = ((HERE / "demo.yaml").read_text()
                  .replace(f"127.0.0.1:{DEFAULT_PORT}", f"127.0.0.1:{port}")
                  .replace("kubeconfig: demo.kubeconfig", f"kubeconfig: {kubeconfig}"))
        path = Path(tmp) / "demo.yaml"
        path.write_text(config)
        try:
            code = main(["console", "--demo", "--config", str(path), *sys.argv[1:]])
        finally:
            server.shutdown()
            kube.shutdown()
    raise SystemExit(code)
