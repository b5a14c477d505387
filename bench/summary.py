"""A bench's rows for bench/run.py's one table (shared by the benches, like pgschema.py).

When OPSBOT_BENCH_SUMMARY names a file, `record()` appends one JSON object per row to it (one line each, so
the rows written before a crash survive); without it, `record()` does nothing and a bench prints as it
always did. Fields: bench, row, figure, peer, ratio (a number or null), bound, met (true, false or null when
it does not apply). bench defaults to the running script's name.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SUMMARY_ENV = "OPSBOT_BENCH_SUMMARY"


def record(row: str, figure: str, *, peer: str = "", ratio: float | None = None, bound: str = "",
           met: bool | None = None, bench: str | None = None) -> None:
    path = os.environ.get(SUMMARY_ENV)
    if not path:
        return
    entry = {"bench": bench or Path(sys.argv[0]).stem, "row": row, "figure": figure, "peer": peer,
             "ratio": ratio, "bound": bound, "met": met}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")
