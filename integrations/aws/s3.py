"""Postmortems kept in an S3 bucket: one object per incident, replaced when the postmortem is written again."""
from __future__ import annotations

from bot.config.incidents import PostmortemS3
from integrations.aws import AwsClients
from integrations.aws.errors import translated

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
