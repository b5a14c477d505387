from collections.abc import Callable

import pytest

import commands
from bot.reply import Reply
from bot.runtime import Runtime
from commands.base import CommandContext


@pytest.fixture
def run_ops() -> Callable[..., Reply]:
    """Run one `/ops` command line the way both transports do (commands.execute)."""

    def run(rt: Runtime, text: str, *, user: str = "U0ALICE", progress: list[str] | None = None) -> Reply:
        sink = progress if progress is not None else []
        ctx = CommandContext(rt=rt, user_id=user, channel_id="C0ONCALL", progress=sink.append)
        return commands.execute(ctx, text, source="test")

    return run
