"""/ops logs: how the answer is cut to Block Kit's limits (fairly between pods, newest lines kept), what the
file holds, and the console's answer, over log sources that are real implementations of the Protocol."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.console import save_attachment
from bot.masking import Masker
from commands.logs import CODE_BLOCKS, Query, fit, render, select
from integrations.base import Integrations, LogLine, LogReading, LogRequest, LogStream

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def stream(name: str, count: int, width: int = 20) -> LogStream:
    return LogStream(name, tuple(LogLine(name, f"{i:05d} " + "x" * (width - 6)) for i in range(count)))


def query(**changes: object) -> Query:
    values: dict[str, object] = {"service": "backend", "since": timedelta(minutes=15), "tail": 100, "grep": None,
                                 "container": None} | changes
    return Query(**values)  # type: ignore[arg-type]


class StaticLogs:
    """A LogSource that answers what it was given, and records what it was asked."""

    def __init__(self, reading: LogReading) -> None:
        self.reading, self.asked = reading, []

    def read_logs(self, request: LogRequest) -> LogReading:
        self.asked.append(request)
        return self.reading


def test_a_stream_needing_less_than_its_share_leaves_the_rest_to_the_others() -> None:
    streams = [stream("web-a", 1000), stream("web-b", 3), stream("web-c", 1000)]
    keep = fit(streams, 10_000, line_chars=400)
    assert keep[1] == 3                                   # all of the small one
    # the rest shared evenly: "[web-a] 00001 xxxxxxxxxxxxxx" is 28 characters, and a newline
    assert abs(keep[0] - keep[2]) <= 1 and sum(keep) == 10_000 // 29


def test_the_answer_fits_block_kit_and_the_file_holds_everything() -> None:
    streams = [stream("web-new", 500, width=120), stream("web-old", 500, width=120)]
    reading = LogReading("pods of deployment/web in prod", tuple(streams))
    reply = render(query(tail=500), reading, streams, now=NOW)
    sections = [b.text for b in reply.blocks if getattr(b, "text", "").startswith("```")]
    assert 1 <= len(sections) <= CODE_BLOCKS and all(len(s) <= 3000 for s in sections)
    shown = "\n".join(sections)
    assert "[web-new] 00499" in shown and "[web-old] 00499" in shown and "[web-new] 00000" not in shown
    assert reply.attachment is not None and reply.attachment.filename == "logs-backend-20261123T0300Z.txt"
    content = reply.attachment.content.splitlines()
    assert content[0] == "# /ops logs backend --since 15m --tail 500" and len(content) == 2 + 1000
    shown_lines = sum(1 for line in shown.splitlines() if line.startswith("[web-"))
    assert reply.ephemeral and reply.detail == f"{shown_lines}/1000 lines from pods of deployment/web in prod"


def test_one_overlong_line_is_shortened_in_the_answer_and_whole_in_the_file() -> None:
    streams = [LogStream("web", (LogLine("web", "start " + "y" * 1000 + " end"),))]
    reply = render(query(), LogReading("pods", tuple(streams)), streams, now=NOW)
    assert " end" not in "".join(getattr(b, "text", "") for b in reply.blocks)
    assert reply.attachment is not None and reply.attachment.content.rstrip().endswith(" end")


def test_masking_comes_before_grep_and_tail() -> None:
    lines = tuple(LogLine("web", text) for text in ("token=abc123def", "key sk-live-secret1", "ERROR a", "ERROR b"))
    reading = LogReading("pods", (LogStream("web", lines, "container app"),))
    [masked] = select(reading, query(tail=1), Masker(["sk-live-secret1"]))
    assert [line.text for line in masked.lines] == ["ERROR b"] and masked.note == "container app"
    [found] = select(reading, query(grep="sk-live"), Masker(["sk-live-secret1"]))
    assert found.lines == ()                               # a secret cannot be found by guessing its start


def test_no_lines_is_said_plainly_with_the_notes() -> None:
    streams = [LogStream("web-a", (), "has no container 'x' (it has app)")]
    reply = render(query(grep="boom"), LogReading("pods of deployment/web in prod", tuple(streams)), streams,
                   now=NOW)
    assert reply.text == "Logs of backend: No log lines containing `boom` in the last 15m."
    assert "web-a: has no container 'x' (it has app)" in reply.blocks[-1].text  # type: ignore[union-attr]
    assert reply.attachment is None


def test_with_grep_the_source_is_asked_for_more_lines_than_the_tail(make_runtime, run_ops) -> None:
    source = StaticLogs(LogReading("pods", (stream("web", 10),)))
    rt = make_runtime({"services": [{"name": "backend"}]}, integrations=Integrations(log_sources={"backend": source}))
    reply = run_ops(rt, "logs backend --grep 0000 --tail 3 --since=2h")
    assert source.asked == [LogRequest(since=timedelta(hours=2), lines=5000, contains="0000", container=None)]
    assert "[web] 00007" in reply.blocks[1].text and "00006" not in reply.blocks[1].text  # type: ignore[union-attr]


def test_the_console_saves_the_full_text_to_a_private_file(tmp_path: Path) -> None:
    streams = [stream("web", 2000, width=200)]
    reply = save_attachment(render(query(tail=2000), LogReading("pods", tuple(streams)), streams, now=NOW),
                            directory=str(tmp_path))
    [saved] = tmp_path.iterdir()
    assert reply.attachment is None and str(saved) in reply.blocks[-1].text  # type: ignore[union-attr]
    assert saved.stat().st_mode & 0o077 == 0 and len(saved.read_text().splitlines()) == 2002


def test_logs_config_is_checked_where_it_is_written() -> None:
    import pytest

    from bot.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as refused:
        parse_config({"integrations": {"aws": {}}, "services": [
            {"name": "a", "logs": {"group": []}}, {"name": "b", "logs": {"group": "has space"}}]})
    assert [p.split(":")[0] for p in refused.value.problems] == ["services[0].logs.group", "services[1].logs.group"]
    with pytest.raises(ConfigError, match="integrations.aws: a service, database or queue uses AWS"):
        parse_config({"services": [{"name": "a", "logs": {"group": "/aws/lambda/a"}}]})
    masked_only = parse_config({"services": [{"name": "a", "logs": {"mask": [{"secret": "K"}]}}]})
    assert masked_only.services[0].logs is not None and masked_only.services[0].logs.groups == ()
