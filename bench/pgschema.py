"""A PostgreSQL schema of its own for one bench row, dropped afterwards (shared by the benches)."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from summary import record  # bench/ is on sys.path first

PG_URL = os.environ.get("OPSBOT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def postgres_schema(prefix: str = "bench") -> Iterator[str | None]:
    """The database URL of a fresh schema in OPSBOT_BENCH_POSTGRES_URL; None (after printing why) when
    PostgreSQL is not reachable: a bench without it still reports SQLite."""
    from sqlalchemy import create_engine, text

    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any failure here means: no PostgreSQL row
        why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
        print(f"postgresql: skipped ({why})")
        record("PostgreSQL rows", f"not run: PostgreSQL unreachable at OPSBOT_BENCH_POSTGRES_URL ({why})")
        admin.dispose()
        yield None
        return
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
