"""The shape of a subcommand and of the context it runs in. Commands are transport-neutral: they change state
through the runtime's services and return a Reply (with the cards they changed, already rendered); the
transport delivers it. What streams while an operation runs (its progress lines) goes from the operation
runner to the card's thread through the Board, not through the command."""
from __future__ import annotations

import difflib
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from bot.errors import UsageError
from bot.reply import Reply
from bot.runtime import Runtime

MAX_TEXT = 3000


@dataclass(frozen=True, slots=True)
class CommandContext:
    rt: Runtime
    user_id: str
    channel_id: str | None


Handler = Callable[[CommandContext, list[str]], Reply]


@dataclass(frozen=True, slots=True)
class Subcommand:
    name: str                                  # "status"
    usage: str                                 # "/ops status [service]"
    summary: str                               # one line in /ops help
    run: Handler
    slow: bool = False                         # ack at once, deliver the answer when it is ready
    deferred_permission: bool = False          # anyone may ask (a plan); the role is checked on Confirm
    hidden: bool = False                       # not listed in /ops help (button targets: confirm, cancel)
    more_usage: tuple[str, ...] = ()           # one usage line per verb: incident open|list|ack|resolve


def split_args(text: str) -> list[str]:
    """Words of a command line, shell-style quotes honoured; nothing is ever executed."""
    if len(text) > MAX_TEXT:
        raise UsageError(f"That command is {len(text):,} characters long; the limit is {MAX_TEXT:,}.")
    try:
        return shlex.split(text.replace("\u201c", '"').replace("\u201d", '"'))
    except ValueError:
        raise UsageError("Unbalanced quotes in the command.") from None


def did_you_mean(word: str, known: list[str]) -> str:
    """' Did you mean `x`?' when a known name is close to `word`, else ''."""
    close = difflib.get_close_matches(word.lower(), known, n=1, cutoff=0.5)
    return f" Did you mean `{close[0]}`?" if close else ""


def parse_flags(args: list[str], *, flags: tuple[str, ...]) -> tuple[list[str], set[str]]:
    """Split `--dry-run`-style flags from positional words; an unknown flag is a UsageError."""
    words, found = [], set()
    for arg in args:
        if arg.startswith("--"):
            if arg.lower() not in flags:
                raise UsageError(f"Unknown option `{arg[:30]}`.")
            found.add(arg.lower())
        else:
            words.append(arg)
    return words, found
