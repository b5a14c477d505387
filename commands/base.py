"""The shape of a subcommand and of the context it runs in. Commands are transport-neutral."""
from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from bot.errors import UsageError
from bot.reply import Reply
from bot.runtime import Runtime

Progress = Callable[[str], None]
MAX_TEXT = 3000


@dataclass(frozen=True, slots=True)
class CommandContext:
    rt: Runtime
    user_id: str
    channel_id: str | None
    progress: Progress


Handler = Callable[[CommandContext, list[str]], Reply]


@dataclass(frozen=True, slots=True)
class Subcommand:
    name: str                                  # "status"
    usage: str                                 # "/ops status [service]"
    summary: str                               # one line in /ops help
    run: Handler
    slow: bool = False                         # ack at once, deliver the answer when it is ready
    more_usage: tuple[str, ...] = ()           # one usage line per verb: incident open|list|ack|resolve


def split_args(text: str) -> list[str]:
    """Words of a command line, shell-style quotes honoured; nothing is ever executed."""
    if len(text) > MAX_TEXT:
        raise UsageError(f"That command is {len(text):,} characters long; the limit is {MAX_TEXT:,}.")
    try:
        return shlex.split(text.replace("\u201c", '"').replace("\u201d", '"'))
    except ValueError:
        raise UsageError("Unbalanced quotes in the command.") from None
