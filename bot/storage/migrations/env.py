"""Alembic environment: runs on the connection handed in by `bot.storage.db.upgrade()` (or DATABASE_URL)."""
from __future__ import annotations

import os

from alembic import context

from bot.storage.db import make_engine
from bot.storage.models import Base

target_metadata = Base.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(os.environ.get("DATABASE_URL", "sqlite:///opsbot.db"))
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
