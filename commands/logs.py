"""/ops logs — a service's recent logs: its pods' (Kubernetes) or its CloudWatch Logs groups', masked.

Read-only, so no confirmation; role-checked (`permissions.commands.logs`) and audited like every command.

- `--since D` (default 15m, 1s–7d): the window, ending now.
- `--tail N` (default 100, 1–5000): the newest N lines of each pod, or of each log group.
- `--grep TEXT`: only lines containing TEXT, a plain case-sensitive substring (as CloudWatch Logs filter terms
  and `grep` are case-sensitive). It is matched after masking, so it cannot be used to guess a secret one
  character at a time. CloudWatch narrows on its side first; the exact match is made here.
- `--container C`: the container to read in each pod (else the pod's default, as `kubectl logs` picks it).

The answer is ephemeral: logs are for the person digging, a channel at 3 a.m. should not fill with them, and
even masked logs may hold personal data. It shows the newest lines of each stream that fit a few code blocks;
when anything was left out or shortened, the whole text goes with it as an `Attachment` (Slack uploads it to
the person's direct messages with the bot, as private as the answer).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import humanize
from bot.config.services import Service
from bot.config.values import parse_duration
from bot.errors import NotFoundError, UsageError
from bot.masking import Masker
from bot.reply import Attachment, Context, Reply, Section, chunks, code, escape, truncate
from bot.runtime import Runtime
from commands.base import CommandContext, Subcommand, did_you_mean, masker
from integrations.base import LogLine, LogReading, LogRequest, LogStream

USAGE = "/ops logs <service> [--since 15m] [--grep TEXT] [--tail N] [--container C]"
OPTIONS = ("--since", "--grep", "--tail", "--container")
EXAMPLES = {"--since": "`--since 15m`", "--grep": "`--grep ERROR`", "--tail": "`--tail 200`",
            "--container": "`--container app`"}
DEFAULT_SINCE = timedelta(minutes=15)
MAX_SINCE = timedelta(days=7)
DEFAULT_TAIL = 100
MAX_TAIL = 5000
SCAN_LINES = 5000            # with --grep, the newest lines of each stream searched
MAX_GREP = 200
MAX_CONTAINER = 63
CODE_BLOCKS = 4              # code blocks shown in the answer
SECTION_CHARS = 2900         # per code block (Block Kit's section limit is 3000)
LINE_CHARS = 400             # a longer line is shortened in the answer (never in the file)
FILE_LINE_CHARS = 4000       # ... and in the file
FILE_CHARS = 4_000_000       # the file keeps the newest lines of each stream that fit
MARKER_CHARS = 120          # "… 120 earlier line(s) of <pod> not shown"
FENCE = "```"


@dataclass(frozen=True, slots=True)
class Query:
    service: str
    since: timedelta
    tail: int
    grep: str | None
    container: str | None

    def describe(self) -> str:
        """The window and filters, for people: "last 15m · containing `ERROR` · container `app`"."""
        parts = [f"last {humanize(self.since)}"]
        if self.grep is not None:
            parts.append(f"containing {code(self.grep, 60)}")
        if self.container is not None:
            parts.append(f"container {code(self.container, 63)}")
        return " · ".join(parts)

    def command_line(self) -> str:
        """The command as typed, with every default spelt out (the file's title)."""
        line = f"/ops logs {self.service} --since {humanize(self.since).replace(' ', '')} --tail {self.tail}"
        if self.grep is not None:
            line += f" --grep {shlex.quote(self.grep)}"
        if self.container is not None:
            line += f" --container {self.container}"
        return line


def run(ctx: CommandContext, args: list[str]) -> Reply:
    query = parse(args, ctx.rt)
    service = ctx.rt.config.service(query.service)
    assert service is not None                            # parse() checked it
    source = ctx.rt.integrations.log_sources.get(service.name)
    if source is None:
        raise NotFoundError(f"The service {code(service.name)} has no log source: add `logs: {{group: <log group>}}` "
                            "(CloudWatch Logs) or `kubernetes:` (its pods) to it in ops.yaml.")
    reads_cloudwatch = bool(service.logs and service.logs.groups) or service.kubernetes is None
    if query.container is not None and reads_cloudwatch:
        raise UsageError(f"`--container` picks a container of a pod, but {code(service.name)} reads CloudWatch Logs.")
    reading = source.read_logs(LogRequest(since=query.since, lines=SCAN_LINES if query.grep else query.tail,
                                          contains=query.grep, container=query.container))
    streams = select(reading, query, masker(ctx.rt))
    return render(query, reading, streams, now=ctx.rt.clock())


# --- arguments -----------------------------------------------------------------------------------------------

def parse(args: list[str], rt: Runtime) -> Query:
    words, values = _split(args)
    if not words:
        raise UsageError("Which service? " + _known(rt.config.services))
    if len(words) > 1:
        raise UsageError(f"`/ops logs` takes one service, then options; I don't know what {code(words[1], 30)} is "
                         "for (quote a --grep text with spaces).")
    name = words[0].lower()
    if rt.config.service(name) is None:
        names = [s.name for s in rt.config.services]
        raise NotFoundError(f"I don't know the service {code(words[0], 40)}.{did_you_mean(words[0], names)} "
                            + _known(rt.config.services))
    return Query(service=name, since=_since(values.get("--since")), tail=_tail(values.get("--tail")),
                 grep=_grep(values.get("--grep")), container=_container(values.get("--container")))


def _split(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional words and `--option value` / `--option=value` pairs; unknown, valueless or repeated options
    are refused."""
    words: list[str] = []
    values: dict[str, str] = {}
    position = 0
    while position < len(args):
        arg = args[position]
        position += 1
        if not arg.startswith("--"):
            words.append(arg)
            continue
        name, equals, value = arg.partition("=")
        name = name.lower()
        if name not in OPTIONS:
            raise UsageError(f"Unknown option {code(name, 30)}.{did_you_mean(name, list(OPTIONS))}")
        if not equals:
            if position >= len(args) or args[position].lower() in OPTIONS:
                raise UsageError(f"`{name}` needs a value, e.g. {EXAMPLES[name]}.")
            value = args[position]
            position += 1
        if name in values:
            raise UsageError(f"`{name}` is given twice.")
        values[name] = value
    return words, values


def _since(raw: str | None) -> timedelta:
    if raw is None:
        return DEFAULT_SINCE
    try:
        since = parse_duration(raw.strip().lower())
    except ValueError:
        since = None
    if not isinstance(since, timedelta) or not timedelta(seconds=1) <= since <= MAX_SINCE:
        raise UsageError(f"`--since` takes a duration from 1s to {humanize(MAX_SINCE)}, like 30s, 15m, 2h or 1d; "
                         f"not {code(raw, 20)}.")
    return since


def _tail(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_TAIL
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_TAIL:
        raise UsageError(f"`--tail` takes a number of lines from 1 to {MAX_TAIL:,}; not {code(raw, 20)}.")
    return int(raw)


def _grep(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not raw.strip() or len(raw) > MAX_GREP:
        raise UsageError(f"`--grep` takes the text to look for, 1 to {MAX_GREP} characters.")
    return raw


def _container(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not raw or len(raw) > MAX_CONTAINER or not all(c.isascii() and (c.isalnum() or c == "-") for c in raw):
        raise UsageError(f"`--container` takes a container name (letters, digits and -); not {code(raw, 30)}.")
    return raw


def _known(services: tuple[Service, ...]) -> str:
    if not services:
        return "No services are configured yet: add them under `services:` in ops.yaml."
    listing = ", ".join(f"`{s.name}`" for s in services[:20])
    return f"Known services: {listing}."


# --- what is shown -------------------------------------------------------------------------------------------

def select(reading: LogReading, query: Query, mask: Masker) -> list[LogStream]:
    """Each stream masked, then the lines containing --grep (matched after masking), then the newest --tail."""
    streams = []
    for stream in reading.streams:
        lines = [LogLine(line.prefix, mask(line.text)) for line in stream.lines]
        if query.grep is not None:
            lines = [line for line in lines if query.grep in line.text]
        streams.append(LogStream(stream.name, tuple(lines[-query.tail:]), stream.note))
    return streams


def fit(streams: list[LogStream], budget: int, *, line_chars: int, overhead: int = 0) -> list[int]:
    """How many of its newest lines each stream keeps so that all fit `budget` characters, shared fairly: a
    stream that needs less than an even share leaves the rest to the others. `overhead` is what each stream
    that loses lines costs for saying so."""
    costs = [[len(_line(line, line_chars)) + 1 for line in s.lines] for s in streams]
    keep = [0] * len(streams)
    left = budget
    order = sorted(range(len(streams)), key=lambda i: sum(costs[i]))
    for rank, index in enumerate(order):
        share = left // (len(order) - rank)
        used, kept = 0, 0
        total = sum(costs[index])
        allowance = share if total <= share else share - overhead
        for cost in reversed(costs[index]):
            if used + cost > allowance:
                break
            used, kept = used + cost, kept + 1
        keep[index] = kept
        left -= used + (overhead if kept < len(costs[index]) else 0)
    return keep


def render(query: Query, reading: LogReading, streams: list[LogStream], *, now: datetime) -> Reply:
    total = sum(len(s.lines) for s in streams)
    head = f"*Logs of {escape(query.service)}* · {escape(reading.subject)} · {query.describe()}"
    notes = [f"{escape(s.name)}: {escape(s.note)}" for s in streams if s.note] + [escape(n) for n in reading.notes]
    if total == 0:
        what = "containing " + code(query.grep or "", 60) + " " if query.grep else ""
        text = f"No log lines {what}in the last {humanize(query.since)}."
        blocks: list[Section | Context] = [Section(head), Section(text)]
        if notes:
            blocks.append(Context(truncate(" · ".join(notes), 2900)))
        return Reply(text=f"Logs of {query.service}: {text}", blocks=tuple(blocks),
                     detail=f"0 lines from {reading.subject}"[:200])
    # Filling code blocks line by line wastes less than one line per block: this much always fits.
    budget = CODE_BLOCKS * (SECTION_CHARS - len(FENCE) * 2 - 2 - LINE_CHARS)
    keep = fit(streams, budget, line_chars=LINE_CHARS, overhead=MARKER_CHARS + 1)
    shown: list[str] = []
    for stream, kept in zip(streams, keep, strict=True):
        if kept < len(stream.lines):
            marker = f"… {len(stream.lines) - kept:,} earlier line(s) of {stream.name} not shown"
            shown.append(truncate(escape(marker), MARKER_CHARS))
        shown.extend(_line(line, LINE_CHARS) for line in stream.lines[len(stream.lines) - kept:])
    count = sum(keep)
    cut = count < total or any(len(escape(f"[{line.prefix}] {line.text}")) > LINE_CHARS
                               for s in streams for line in s.lines)
    fenced = chunks(shown, SECTION_CHARS - len(FENCE) * 2 - 2)[:CODE_BLOCKS]
    blocks = [Section(head), *(Section(f"{FENCE}\n{chunk}\n{FENCE}") for chunk in fenced)]
    summary = f"{count:,} of {total:,} lines shown (the newest of each)" if count < total else \
        (f"{total:,} lines" if total > 1 else "1 line")
    blocks.append(Context(truncate(" · ".join([summary, *notes]), 2900)))
    return Reply(text=f"Logs of {query.service}: {summary}", blocks=tuple(blocks),
                 attachment=_file(query, reading, streams, now) if cut else None,
                 detail=f"{count}/{total} lines from {reading.subject}"[:200])


def _file(query: Query, reading: LogReading, streams: list[LogStream], now: datetime) -> Attachment:
    keep = fit(streams, FILE_CHARS, line_chars=FILE_LINE_CHARS)
    title = query.command_line()
    out = [f"# {title}", f"# {reading.subject}, read {now:%Y-%m-%d %H:%M:%S} UTC"]
    out += [f"# {s.name}: {s.note}" for s in streams if s.note] + [f"# {n}" for n in reading.notes]
    for stream, kept in zip(streams, keep, strict=True):
        if kept < len(stream.lines):
            out.append(f"# … {len(stream.lines) - kept:,} earlier line(s) of {stream.name} left out (too long)")
        out.extend(f"[{line.prefix}] {truncate(line.text, FILE_LINE_CHARS)}"
                   for line in stream.lines[len(stream.lines) - kept:])
    return Attachment(filename=f"logs-{query.service}-{now:%Y%m%dT%H%MZ}.txt", title=title[:250],
                      content="\n".join(out) + "\n")


def _line(line: LogLine, limit: int) -> str:
    """A line as the answer shows it: escaped for mrkdwn, then shortened to `limit`."""
    return truncate(escape(f"[{line.prefix}] {line.text}"), limit)




COMMAND = Subcommand(
    name="logs",
    usage=USAGE,
    summary="A service's recent logs (pods or CloudWatch Logs), secrets masked.",
    run=run,
    slow=True,
)
