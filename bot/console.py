"""`opsbot console`: the same commands as Slack, typed on stdin, answered on stdout.

Block Kit becomes plain text; buttons become numbered choices (type the number to press one).
"""
from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
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
    ":memo:": "📝", ":construction:": "🚧", ":speech_balloon:": "💬", ":page_facing_up:": "📄", ":key:": "🔑",
    ":file_cabinet:": "🗄️ ", ":telephone_receiver:": "📞", ":information_source:": "ℹ️ ", ":small_blue_diamond:": "🔹",
    ":inbox_tray:": "📥", ":gear:": "⚙️ ", ":calendar:": "📆", ":bell:": "🔔", ":bar_chart:": "📊",
    ":arrow_up_down:": "↕️ ", ":stopwatch:": "⏱️ ", ":sos:": "🆘", ":fire:": "🔥", ":mute:": "🔇",
}
_LINK = re.compile(r"<((?:https?|mailto):[^|>\s]+)\|([^>]+)>")
_MENTION = re.compile(r"<@([A-Z0-9a-z_.-]+)>")
_EMOJI = re.compile(r":[a-z0-9_+-]+:")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")


def to_terminal(text: str) -> str:
    """Slack mrkdwn to terminal text: emoji shortcodes to symbols, mentions to @id, links to `label (url)`,
    entities decoded."""
    text = _EMOJI.sub(lambda m: EMOJI.get(m.group(0), m.group(0)), text)
    text = _MENTION.sub(lambda m: "@" + m.group(1), text)
    text = re.sub(r"<!(here|channel|everyone)>", r"@\1", text)
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    # Bold outside `code` only: a cron like `0 9 * * *` keeps its stars.
    text = "`".join(part if i % 2 else _BOLD.sub(lambda m: m.group(1), part)
                    for i, part in enumerate(text.split("`")))
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render(reply: Reply, numbers: Sequence[int] | None = None) -> tuple[str, list[Button]]:
    """The reply as terminal lines, and its buttons in order; button i is printed as [numbers[i]] (1, 2, … when
    no numbers are given)."""
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
                number = numbers[len(buttons)] if numbers is not None else len(buttons) + 1
                buttons.append(button)
                out.append(f"  [{number}] {button.label}")
    if buttons:
        out.append("  (type a number to press that button)")
    return "\n".join(out), buttons


class Choices:
    """Button numbers that stay with their card. A card's buttons are numbered when it is first shown and keep
    their numbers when it is redrawn (new buttons get new numbers), so typing a number twice never presses two
    different buttons: a number whose button has left its card answers so."""

    def __init__(self) -> None:
        self._next = 1
        self._live: dict[int, Button] = {}
        self._gone: dict[int, str] = {}                               # number -> label of a button that left
        self._by_card: dict[str, dict[tuple[str, str], int]] = {}     # card -> (action, value) -> number
        self._replies = 0

    def number(self, card: CardRef | None, buttons: Sequence[Button]) -> list[int]:
        """Numbers for these buttons, the card's own when it was shown before."""
        if card is None:                       # a reply that is no card: its buttons are numbered afresh
            self._replies += 1
        key = str(card) if card is not None else f"reply:{self._replies}"
        before = self._by_card.get(key, {})
        now: dict[tuple[str, str], int] = {}
        for button in buttons:
            slot = (button.action_id.value, button.value)
            if slot not in now:
                now[slot] = before.get(slot) or self._take()
            self._live[now[slot]] = button
        for slot, number in before.items():
            if slot not in now:
                self._gone[number] = self._live.pop(number).label
        self._by_card[key] = now
        return [now[(b.action_id.value, b.value)] for b in buttons]

    def _take(self) -> int:
        number, self._next = self._next, self._next + 1
        return number

    def pick(self, number: int) -> Button | str:
        """The button numbered `number`, or why there is none."""
        if number in self._live:
            return self._live[number]
        if number in self._gone:
            return f"[{number}] {self._gone[number]} is no longer on its card (the card changed: see it above)."
        if not self._live:
            return "There are no buttons to press: the cards shown have none left."
        shown = ", ".join(str(n) for n in sorted(self._live)[-8:])
        return f"There is no choice {number}; the buttons on screen are {shown}."


class ConsoleBoard:
    """The Board of the console: every card and message is printed; its buttons are numbered (Choices)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.choices = Choices()
        self._lock = threading.Lock()
        self._held: list[str] | None = None
        self._shown: dict[str, str] = {}     # card -> what was last printed of it (a terminal cannot update in place)

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

    def print_reply(self, reply: Reply, *, card: CardRef | None = None, now: bool = False,
                    unless_unchanged: bool = False) -> None:
        """Print the reply, its buttons numbered; with `unless_unchanged`, not when the card would print as it
        did last time (a background redraw that changed nothing a terminal shows)."""
        ref = card or reply.card
        with self._lock:
            numbers = self.choices.number(ref, reply.buttons())
            text = render(reply, numbers)[0]
            if ref is not None:
                if unless_unchanged and self._shown.get(str(ref)) == text:
                    return
                self._shown[str(ref)] = text
        self.print(text, now=now)

    def pick(self, number: int) -> Button | str:
        with self._lock:
            return self.choices.pick(number)

    def post(self, channel: str, reply: Reply, *, thread: CardRef | None = None, key: str | None = None) -> None:
        if reply.buttons():
            self.print_reply(reply)
        else:
            self.print(to_terminal(reply.text))

    def show(self, card: Card, *, channel: str) -> bool:
        self.print_reply(card.reply, card=card.ref, unless_unchanged=True)
        return True

    def redraw(self, card: Card) -> bool:
        self.print_reply(card.reply, card=card.ref, unless_unchanged=True)
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

    def __init__(self, rt: Runtime, board: ConsoleBoard, *, user_id: str, channel_id: str = "console",
                 workers: tuple[tuple[str, Callable[[threading.Event], None]], ...] = ()) -> None:
        self.rt, self.board, self.user_id, self.channel_id = rt, board, user_id, channel_id
        self.workers = workers          # more background work (the demo's outbox and escalator)

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
                self.board.print_reply(card.reply, card=card.ref, now=True)
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
        button = self.board.pick(number)
        if isinstance(button, str):
            self.board.print(button)
            return
        pressed = commands.button_command(button.action_id, button.value)
        if pressed is None:
            self.board.print(f"The button {button.label!r} does nothing in the console.")
            return
        self.run_command(pressed[0], source="button")

    def run(self, lines: Iterable[str], *, prompt: bool) -> None:
        """Read commands until the input ends or `quit`. Meanwhile the operation runner keeps its leases (and
        notices other replicas' dead operations) as under `opsbot serve`."""
        stop = threading.Event()
        threads = [threading.Thread(target=work, args=(stop,), name=f"opsbot-{name}", daemon=True)
                   for name, work in (("operations", self.rt.operations.runner.run_forever), *self.workers)]
        for thread in threads:
            thread.start()
        try:
            if prompt:
                self.board.print("opsbot console — type /ops help, a number to press a button, or quit.")
            for line in _prompted(lines, prompt, self.board.out):
                if not self.handle_line(line):
                    break
        finally:
            stop.set()
            for thread in threads:
                thread.join(5)


def _prompted(lines: Iterable[str], prompt: bool, out: TextIO) -> Iterable[str]:
    if prompt:
        out.write("ops> ")
        out.flush()
    for line in lines:
        yield line
        if prompt:
            out.write("ops> ")
            out.flush()
