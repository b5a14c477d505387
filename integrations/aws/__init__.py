"""AWS through boto3: one Session, each service client created once with timeouts and bounded retries.

Region, profile and endpoint come from `integrations.aws` in the config, else from the standard
environment (AWS_REGION / AWS_DEFAULT_REGION, AWS_PROFILE, AWS_ENDPOINT_URL, the usual credential chain).
This package is the only place that imports boto3 or botocore.
"""
from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config

from bot.config.services import AwsSettings


class AwsClients:
    """One boto3 Session; each service client made on first use, once, under a lock (boto3 sessions are not
    thread-safe, the clients they make are)."""

    def __init__(self, settings: AwsSettings) -> None:
        self._settings = settings
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._config = Config(
            connect_timeout=settings.connect_timeout.total_seconds(),
            read_timeout=settings.read_timeout.total_seconds(),
            # total_max_attempts counts the first try: one retry. (botocore's `max_attempts` key counts
            # retries only, so {"max_attempts": 2} would mean three tries.)
            retries={"total_max_attempts": 2, "mode": "standard"},
        )

    @property
    def timeout_s(self) -> float:
        """Connect + read timeout: the budget for one call, used as the StatusSource timeout."""
        return (self._settings.connect_timeout + self._settings.read_timeout).total_seconds()

    def client(self, service: str) -> Any:
        """The client for `service` ("rds", "lambda", ...). Raises botocore's errors (no region, unknown
        profile): call it inside `errors.translated()`."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._make(service)
            return self._clients[service]

    def _make(self, service: str) -> Any:
        if self._session is None:
            # botocore itself reads only AWS_DEFAULT_REGION; AWS_REGION is what the AWS SDKs and Lambda set.
            region = self._settings.region or os.environ.get("AWS_REGION") or None
            self._session = boto3.session.Session(profile_name=self._settings.profile, region_name=region)
        endpoint = str(self._settings.endpoint_url) if self._settings.endpoint_url else None
        return self._session.client(service, endpoint_url=endpoint, config=self._config)
