"""The shape of a subcommand and of the context it runs in. Commands are transport-neutral: they change state
through the runtime's services and return a Reply (with the cards they changed, already rendered); the
transport delivers it. What streams while an operation runs (its progress lines) goes from the operation
runner to the card's thread through the Board, not through the command."""
from __future__ import annotations

import difflib
import re
import shlex
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from bot.config.secrets import revealed_values
from bot.errors import UsageError
from bot.masking import Masker
from bot.reply import Reply
from bot.runtime import Runtime

MAX_TEXT = 3000
ID_MAX = 2**31 - 1                  # row ids are 32-bit integers in both databases
_ID = re.compile(r"#?([0-9]{1,10})")
_KEPT_CONTROLS = frozenset("\t\n\r")


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
    split: Callable[[str], list[str]] | None = None   # its own way to split the line (default: split_args)


def split_args(text: str) -> list[str]:
    """Words of a command line, shell-style quotes honoured; nothing is ever executed."""
    if len(text) > MAX_TEXT:
        raise UsageError(f"That command is {len(text):,} characters long; the limit is {MAX_TEXT:,}.")
    odd = odd_character(text)
    if odd is not None:
        raise UsageError(f"The command contains {odd}, which I can't take; type it again without it.")
    try:
        return shlex.split(text.replace("\u201c", '"').replace("\u201d", '"'))
    except ValueError:
        raise UsageError("Unbalanced quotes in the command.") from None


def split_then_text(text: str, *, words: int) -> list[str]:
    """The first `words` words, then the rest exactly as typed as one more argument (when there is any): free
    text such as a note, where an apostrophe, a quote or a line break is part of what was said."""
    odd = odd_character(text)
    if odd is not None:
        raise UsageError(f"The command contains {odd}, which I can't take; type it again without it.")
    parts = text.split(maxsplit=words)
    if len(parts) > words:
        parts[-1] = parts[-1].strip()
    return parts


def odd_character(text: str) -> str | None:
    """Names the first character no command can mean (a control character, a lone surrogate), or None."""
    for position, char in enumerate(text, 1):
        kind = unicodedata.category(char)
        if kind == "Cs":
            return f"a lone surrogate (U+{ord(char):04X}) at position {position}"
        if kind == "Cc" and char not in _KEPT_CONTROLS:
            what = "a NUL character" if char == "\x00" else f"a control character (U+{ord(char):04X})"
            return f"{what} at position {position}"
    return None


def parse_id(word: str) -> int | None:
    """A row id as typed (`12` or `#12`): ASCII digits, 1 to ID_MAX; None for anything else."""
    match = _ID.fullmatch(word)
    if match is None or not 1 <= int(match.group(1)) <= ID_MAX:
        return None
    return int(match.group(1))


def did_you_mean(word: str, known: list[str], *, prefix: str = "") -> str:
    """' Did you mean `<prefix>x`?' when a known name is close to `word`, else ''."""
    close = difflib.get_close_matches(word.lower(), known, n=1, cutoff=0.5)
    return f" Did you mean `{prefix}{close[0]}`?" if close else ""


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


def masker(rt: Runtime) -> Masker:
    """What hides secrets in text a command shows (logs, queue bodies, script output): every secret the config
    names that can be read now, the bot's own Slack credentials, and credential-shaped text."""
    own = (rt.settings.slack_bot_token, rt.settings.slack_signing_secret, rt.settings.slack_app_token)
    return Masker([*revealed_values(rt.config), *(s.get_secret_value() for s in own if s is not None)])
