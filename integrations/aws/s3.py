"""S3: the newest object under a prefix (a checklist's `s3_latest_object`, "is last night's backup there?"), and
postmortems kept in a bucket (one object per incident, replaced when the postmortem is written again)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.clock import Clock, humanize
from bot.config.aws_checks import S3LatestObjectCheck, size_text
from bot.config.incidents import PostmortemS3
from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import Finding, Health

MAX_PAGES = 10          # ListObjectsV2 pages (1,000 keys each) read before we stop: narrow the prefix beyond that
PAGE_KEYS = 1000


class S3LatestObject:
    """StatusSource: the object under `prefix` with the newest LastModified must be younger than `max_age` (warn
    from `warn_age`) and at least `min_size` bytes. Folder markers (keys ending in '/') are not objects.

    S3 lists keys in name order, not by time, so every key under the prefix is read, up to MAX_PAGES pages;
    past that only part of the prefix was seen, which is a warning."""

    def __init__(self, cfg: S3LatestObjectCheck, clients: AwsClients, *, clock: Clock,
                 page_keys: int = PAGE_KEYS, max_pages: int = MAX_PAGES) -> None:
        self.cfg, self.clients, self.clock = cfg, clients, clock
        self.page_keys, self.max_pages = page_keys, max_pages
        self.subject = cfg.url

    @property
    def timeout_s(self) -> float:
        return self.max_pages * self.clients.timeout_s

    def check(self) -> Sequence[Finding]:
        cfg = self.cfg
        newest, seen, complete = self._newest()
        if newest is None:
            where = "" if complete else f" in the first {seen} keys"
            return [Finding("s3", self.subject, Health.DOWN if complete else Health.DEGRADED,
                            f"no object under {cfg.url}{where}")]
        key, size = str(newest["Key"]), int(newest.get("Size") or 0)
        modified: datetime = newest["LastModified"]
        age = self.clock() - modified
        details = {"key": key, "last_modified": f"{modified.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
                   "size": size_text(size)}
        what = f"newest object {key}"
        if not complete:        # a newer object may be in the keys not read
            return [Finding("s3", self.subject, Health.DEGRADED,
                            f"more than {seen} keys under {cfg.url}, only those were read (narrow the prefix); "
                            f"{what} of those is {humanize(age)} old, {size_text(size)}", details=details)]
        if age > cfg.max_age:
            return [Finding("s3", self.subject, Health.DOWN,
                            f"{what} is {humanize(age)} old (max {humanize(cfg.max_age)})", details=details)]
        if size < cfg.min_size:
            return [Finding("s3", self.subject, Health.DOWN,
                            f"{what} is {size_text(size)} (min {size_text(cfg.min_size)})", details=details)]
        text = f"{what} is {humanize(age)} old, {size_text(size)}"
        if age > cfg.warn_after:
            return [Finding("s3", self.subject, Health.DEGRADED,
                            f"{text}: older than {humanize(cfg.warn_after)} (max {humanize(cfg.max_age)})",
                            details=details)]
        return [Finding("s3", self.subject, Health.OK, text, details=details)]

    def _newest(self) -> tuple[dict[str, Any] | None, int, bool]:
        """The newest object, how many keys were read, and whether that was every key under the prefix."""
        newest: dict[str, Any] | None = None
        seen = 0
        params: dict[str, Any] = {"Bucket": self.cfg.bucket, "Prefix": self.cfg.prefix, "MaxKeys": self.page_keys}
        with translated(self.subject):
            client = self.clients.client("s3")
            for _ in range(self.max_pages):
                page = client.list_objects_v2(**params)
                for item in page.get("Contents", []):
                    seen += 1
                    if str(item["Key"]).endswith("/") and not item.get("Size"):
                        continue
                    if newest is None or item["LastModified"] > newest["LastModified"]:
                        newest = item
                token = page.get("NextContinuationToken")
                if not page.get("IsTruncated") or not token:
                    return newest, seen, True
                params["ContinuationToken"] = token
        return newest, seen, False


CONTENT_TYPE = "text/markdown; charset=utf-8"


class S3DocumentStore:
    def __init__(self, cfg: PostmortemS3, aws: AwsClients) -> None:
        self.bucket, self.prefix, self._aws = cfg.bucket, cfg.prefix, aws

    def put(self, name: str, content: str) -> str:
        key = self.prefix + name
        with translated(f"the postmortem bucket {self.bucket}"):
            self._aws.client("s3").put_object(Bucket=self.bucket, Key=key, Body=content.encode("utf-8"),
                                              ContentType=CONTENT_TYPE)
        return f"s3://{self.bucket}/{key}"
