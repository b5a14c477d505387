"""CloudWatch Logs: how many events of a log group matched a filter pattern over the last period
(a checklist's `log_errors`), with the first match quoted; and the recent events of a service's log groups
(`/ops logs`)."""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.clock import Clock, humanize
from bot.config.checklists import LogErrorsCheck
from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import Finding, Health, LogLine, LogReading, LogRequest, LogStream, TargetNotFoundError

MAX_PAGES = 5           # FilterLogEvents pages (up to 10,000 events each) read before we stop counting
LINE_CHARS = 200


class CloudWatchLogErrors:
    """StatusSource: more than `max` matching events in the window is down; the first one is quoted.

    FilterLogEvents may answer a page with few or no events and a token while it is still searching, so
    after MAX_PAGES the count is a lower bound: over `max` it still fails, otherwise it is a warning that
    says only part of the window was searched."""

    def __init__(self, cfg: LogErrorsCheck, clients: AwsClients, *, clock: Clock) -> None:
        self.cfg, self.clients, self.clock = cfg, clients, clock
        self.subject = f"log group {cfg.log_group}"

    @property
    def timeout_s(self) -> float:
        return MAX_PAGES * self.clients.timeout_s

    def check(self) -> Sequence[Finding]:
        count, first, complete = self._count()
        window, cfg = humanize(self.cfg.period), self.cfg
        events = f"{count} event" if count == 1 else f"{count} events"
        what = f"{events} matching {cfg.pattern!r}" if cfg.pattern else events
        quoted = f"; first: {first}" if first else ""
        if count > cfg.max:
            at_least = "" if complete else "at least "
            return [Finding("logs", self.subject, Health.DOWN,
                            f"{at_least}{what} in the last {window} (max {cfg.max}){quoted}")]
        if not complete:
            return [Finding("logs", self.subject, Health.DEGRADED,
                            f"only part of the last {window} searched ({MAX_PAGES} requests): {what} so far{quoted}")]
        return [Finding("logs", self.subject, Health.OK, f"{what} in the last {window} (max {cfg.max})")]

    def _count(self) -> tuple[int, str | None, bool]:
        """Matching events in the window, the first one's first line, and whether the search finished."""
        end = self.clock()
        params: dict[str, Any] = {"logGroupName": self.cfg.log_group, "startTime": _ms(end - self.cfg.period),
                                  "endTime": _ms(end)}
        if self.cfg.pattern:
            params["filterPattern"] = self.cfg.pattern
        count, first = 0, None
        with translated(self.subject):
            client = self.clients.client("logs")
            for _ in range(MAX_PAGES):
                page = client.filter_log_events(**params)
                events = page.get("events", [])
                if first is None and events:
                    first = _line(str(events[0].get("message", "")))
                count += len(events)
                token = page.get("nextToken")
                if not token:
                    return count, first, True
                params["nextToken"] = token
        return count, first, False


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _line(message: str) -> str:
    """The first non-empty line of a log event, shortened."""
    line = next((part.strip() for part in message.splitlines() if part.strip()), "")
    return line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 1] + "…"


READ_PAGES = 10         # FilterLogEvents pages read per log group for /ops logs before we stop
PAGE_EVENTS = 10_000    # events per page: FilterLogEvents' largest `limit` (and its default)


class CloudWatchLogGroups:
    """LogSource: the events of one or more log groups in the window (`/ops logs`), newest `lines` per group.

    FilterLogEvents pages run oldest first, so the newest events are the last ones read: after READ_PAGES
    pages the reading stops and says that the newest part of the window is missing. A missing group is a
    note, unless every group is missing; then `missing_hint` (how to make the group exist, or name another)
    is added to the error."""

    def __init__(self, groups: tuple[str, ...], clients: AwsClients, *, clock: Clock, missing_hint: str = "",
                 page_events: int = PAGE_EVENTS) -> None:
        self.groups, self.clients, self.clock, self.missing_hint = groups, clients, clock, missing_hint
        self.page_events = page_events

    def read_logs(self, request: LogRequest) -> LogReading:
        end = self.clock()
        streams, missing = [], []
        for group in self.groups:
            try:
                streams.append(self._group(group, request, end))
            except TargetNotFoundError as exc:
                missing.append(exc)
                streams.append(LogStream(group, (), "log group not found"))
        subject = ("log group " if len(self.groups) == 1 else "log groups ") + ", ".join(self.groups)
        if len(missing) == len(self.groups):
            hint = f". {self.missing_hint}" if self.missing_hint else ""
            raise TargetNotFoundError(f"{missing[0]}{hint}") from missing[0]
        return LogReading(subject, tuple(streams))

    def _group(self, group: str, request: LogRequest, end: datetime) -> LogStream:
        params: dict[str, Any] = {"logGroupName": group, "startTime": _ms(end - request.since), "endTime": _ms(end),
                                  "limit": self.page_events}
        phrase = _phrase(request.contains)
        if phrase:
            params["filterPattern"] = phrase
        newest: deque[LogLine] = deque(maxlen=request.lines)
        with_date = request.since > timedelta(days=1)
        with translated(f"log group {group}"):
            client = self.clients.client("logs")
            for _ in range(READ_PAGES):
                page = client.filter_log_events(**params)
                newest.extend(_event_line(event, with_date) for event in page.get("events", []))
                token = page.get("nextToken")
                if not token:
                    return LogStream(group, tuple(newest))
                params["nextToken"] = token
        first, last = (newest[0].prefix, newest[-1].prefix) if newest else ("", "")
        note = (f"more events than {READ_PAGES} requests could read: these are the newest of those read "
                f"({first} to {last}), not the newest of the window; narrow it with --since or --grep")
        return LogStream(group, tuple(newest), note)


def _event_line(event: dict[str, Any], with_date: bool) -> LogLine:
    at = datetime.fromtimestamp(int(event.get("timestamp", 0)) / 1000, tz=UTC)
    when = at.strftime("%m-%d %H:%M:%S" if with_date else "%H:%M:%S")
    return LogLine(f"{when} {_stream_tag(str(event.get('logStreamName', '')))}",
                   str(event.get("message", "")).rstrip("\n"))


def _stream_tag(name: str) -> str:
    """A short name for a log stream: `2026/11/23/[$LATEST]0f3c…9a1b` -> `…9a1b` (last 8), `i-0abc…` kept."""
    tail = name.rsplit("/", 1)[-1].rsplit("]", 1)[-1]
    return tail if len(tail) <= 19 else "…" + tail[-8:]


def _phrase(contains: str | None) -> str | None:
    """A CloudWatch filter pattern that keeps every event containing `contains`: its longest stretch without a
    double quote, as a quoted term (a quoted term matches as a plain substring). The caller filters exactly."""
    if not contains:
        return None
    longest = max(contains.split('"'), key=len)
    return f'"{longest}"' if longest.strip() else None
