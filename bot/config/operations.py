"""How confirmed operations (rollback, backup, scale) run: their own bounded pool, each under a lease."""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

from bot.config.values import Duration, Strict, bounded


class OperationSettings(Strict):
    # Operations in flight at once on one replica; more wait in line for a free worker.
    workers: int = Field(default=4, ge=1, le=64)
    # A running operation renews its lease every third of this; a lease that runs out (the replica died)
    # marks the operation `interrupted` on any replica. Never re-applied automatically.
    lease: Annotated[Duration, AfterValidator(lambda v: bounded(
        v, low=timedelta(seconds=1), high=timedelta(minutes=10)))] = timedelta(seconds=30)
