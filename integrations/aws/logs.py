"""CloudWatch Logs: how many events of a log group matched a filter pattern over the last period
(a checklist's `log_errors`), with the first match quoted."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.clock import Clock, humanize
from bot.config.checklists import LogErrorsCheck
from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import Finding, Health

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
