"""`opsbot console`: the same commands as Slack, typed on stdin, answered on stdout.

Block Kit becomes plain text; buttons become numbered choices (type the number to press one).
"""
from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Iterable
from typing import TextIO

import commands
from bot.reply import Actions, Button, Card, CardRef, Context, Divider, Header, Reply, Section
from bot.runtime import Runtime
from commands.base import CommandContext

OPERATION_WAIT_S = 600.0     # the longest a console waits for a confirmed operation before prompting again

EMOJI = {
    ":large_green_circle:": "🟢", ":large_yellow_circle:": "🟡", ":red_circle:": "🔴", ":white_circle:": "⚪",
    ":large_orange_circle:": "🟠", ":rotating_light:": "🚨", ":warning:": "⚠️ ", ":eyes:": "👀",
    ":white_check_mark:": "✅", ":tada:": "🎉", ":hourglass_flowing_sand:": "⏳", ":hourglass:": "⌛",
    ":x:": "❌", ":no_entry_sign:": "🚫", ":mag:": "🔍", ":arrow_forward:": "▶️ ",
    ":ballot_box:": "☐", ":ballot_box_with_check:": "☑️ ", ":fast_forward:": "⏩",
}
_MENTION = re.compile(r"<@([A-Z0-9a-z_.-]+)>")
_EMOJI = re.compile(r":[a-z0-9_+-]+:")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")


def to_terminal(text: str) -> str:
    """Slack mrkdwn to terminal text: emoji shortcodes to symbols, mentions to @id, entities decoded."""
    text = _EMOJI.sub(lambda m: EMOJI.get(m.group(0), m.group(0)), text)
    text = _MENTION.sub(lambda m: "@" + m.group(1), text)
    # Bold outside `code` only: a cron like `0 9 * * *` keeps its stars.
    text = "`".join(part if i % 2 else _BOLD.sub(lambda m: m.group(1), part)
                    for i, part in enumerate(text.split("`")))
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render(reply: Reply, *, first_choice: int = 1) -> tuple[str, list[Button]]:
    """The reply as terminal lines, and the buttons in the order their numbers were printed."""
    out: list[str] = []
    buttons: list[Button] = []
    for block in reply.blocks or (Section(reply.text),):
        if isinstance(block, Header):
            out.append(to_terminal(block.text).upper())
        elif isinstance(block, Section):
            out.append(to_terminal(block.text))
            out.extend("  " + to_terminal(f).replace("\n", ": ", 1) for f in block.fields)
        elif isinstance(block, Context):
            out.append("  " + to_terminal(block.text))
        elif isinstance(block, Divider):
            out.append("-" * 40)
        elif isinstance(block, Actions):
            for button in block.buttons:
                buttons.append(button)
                out.append(f"  [{first_choice + len(buttons) - 1}] {button.label}")
    if buttons:
        out.append("  (type a number to press that button)")
    return "\n".join(out), buttons


class ConsoleBoard:
    """The Board of the console: every card and message is printed; the last buttons shown can be pressed."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.choices: list[Button] = []
        self._lock = threading.Lock()
        self._held: list[str] | None = None

    def hold(self) -> None:
        """Keep what other threads print (a confirmed operation's progress) until the answer is printed."""
        with self._lock:
            self._held = []

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held or [], None
            for text in held:
                self.out.write(text + "\n")
            self.out.flush()

    def print(self, text: str, *, now: bool = False) -> None:
        with self._lock:
            if self._held is not None and not now:
                self._held.append(text)
                return
            self.out.write(text + "\n")
            self.out.flush()

    def print_reply(self, reply: Reply, *, now: bool = False) -> None:
        text, choices = render(reply)
        with self._lock:
            self.choices = choices
        self.print(text, now=now)

    def post(self, channel: str, reply: Reply, *, thread: CardRef | None = None, key: str | None = None) -> None:
        self.print(to_terminal(reply.text) if not reply.buttons() else render(reply)[0])

    def show(self, card: Card, *, channel: str) -> bool:
        self.print_reply(card.reply)
        return True

    def redraw(self, card: Card) -> bool:
        self.print_reply(card.reply)
        return True

    def direct(self, user: str, reply: Reply, *, key: str | None = None) -> None:
        self.print(f"(direct message to @{user}) {to_terminal(reply.text)}")


def save_attachment(reply: Reply, directory: str | None = None) -> Reply:
    """A reply's full text (when it shows only part) is written to a new file only this user can read (a
    terminal scrolls, but a file can be searched and kept); the reply says where."""
    attachment = reply.attachment
    if attachment is None:
        return reply
    try:
        handle, path = tempfile.mkstemp(prefix="opsbot-", suffix="-" + attachment.filename, dir=directory)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(attachment.content)
    except OSError as exc:
        return reply.with_note(f"{attachment.label} could not be saved ({type(exc).__name__}: {exc.strerror}).")
    return reply.with_note(f"{attachment.label} ({attachment.content.count(chr(10)):,} lines) is in {path}")


class Console:
    """A REPL bound to one runtime and one pretend Slack user."""

    def __init__(self, rt: Runtime, board: ConsoleBoard, *, user_id: str, channel_id: str = "console") -> None:
        self.rt, self.board, self.user_id, self.channel_id = rt, board, user_id, channel_id

    def _context(self) -> CommandContext:
        return CommandContext(rt=self.rt, user_id=self.user_id, channel_id=self.channel_id)

    def run_command(self, text: str, *, source: str) -> None:
        """Run one command line and print its answer, then what a confirmed operation printed meanwhile, and
        wait for that operation to end, so its lines come before the next prompt."""
        self.board.hold()
        try:
            reply = save_attachment(commands.execute(self._context(), text, source=source))
            self.board.print_reply(reply, now=True)
            for card in reply.redraw:
                self.board.print_reply(card.reply, now=True)
        finally:
            self.board.release()
        self.rt.operations.runner.idle(timeout=OPERATION_WAIT_S)

    def handle_line(self, line: str) -> bool:
        """Run one input line; False means the user asked to leave."""
        line = line.strip()
        if not line:
            return True
        if line in ("quit", "exit", "/quit", "/exit"):
            return False
        if line.isdigit():
            self.press(int(line))
            return True
        text = line[len("/ops"):] if line == "/ops" or line.startswith("/ops ") else line
        self.run_command(text.strip(), source="console")
        return True

    def press(self, number: int) -> None:
        choices = self.board.choices
        if not choices:
            self.board.print("There are no buttons to press: the last answer had none.")
            return
        if not 1 <= number <= len(choices):
            self.board.print(f"There is no choice {number}; pick 1–{len(choices)}.")
            return
        button = choices[number - 1]
        pressed = commands.button_command(button.action_id, button.value)
        if pressed is None:
            self.board.print(f"The button {button.label!r} does nothing in the console.")
            return
        self.run_command(pressed[0], source="button")

    def run(self, lines: Iterable[str], *, prompt: bool) -> None:
        """Read commands until the input ends or `quit`. Meanwhile the operation runner keeps its leases (and
        notices other replicas' dead operations) as under `opsbot serve`."""
        stop = threading.Event()
        leases = threading.Thread(target=self.rt.operations.runner.run_forever, args=(stop,),
                                  name="opsbot-operations", daemon=True)
        leases.start()
        try:
            if prompt:
                self.board.print("opsbot console — type /ops help, a number to press a button, or quit.")
            for line in _prompted(lines, prompt, self.board.out):
                if not self.handle_line(line):
                    break
        finally:
            stop.set()
            leases.join(5)


def _prompted(lines: Iterable[str], prompt: bool, out: TextIO) -> Iterable[str]:
    if prompt:
        out.write("ops> ")
        out.flush()
    for line in lines:
        yield line
        if prompt:
            out.write("ops> ")
            out.flush()
