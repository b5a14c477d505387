"""AWS through boto3: one Session, each service client created once with timeouts and bounded retries.

Region, profile and endpoint come from `integrations.aws` in the config, else from the standard
environment (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL, the usual credential chain).
"""
from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from bot.config import AwsSettings


class AwsClients:
    def __init__(self, settings: AwsSettings) -> None:
        self._settings = settings
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._config = Config(
            connect_timeout=settings.connect_timeout.total_seconds(),
            read_timeout=settings.read_timeout.total_seconds(),
            retries={"max_attempts": 2, "mode": "standard"},
        )

    @property
    def timeout_s(self) -> float:
        """The longest one call can take: connect + read, twice (one retry)."""
        return 2 * (self._settings.connect_timeout + self._settings.read_timeout).total_seconds()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                if self._session is None:
                    self._session = boto3.session.Session(profile_name=self._settings.profile,
                                                          region_name=self._settings.region)
                endpoint = str(self._settings.endpoint_url) if self._settings.endpoint_url else None
                self._clients[service] = self._session.client(service, endpoint_url=endpoint, config=self._config)
            return self._clients[service]
