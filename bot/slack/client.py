"""Slack Web API clients: pointed at SLACK_API_URL, with timeouts, and waiting out HTTP 429 `Retry-After`."""
from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bot.settings import Settings

TIMEOUT_S = 10
RATE_LIMIT_RETRIES = 3


def _retry_handlers() -> list[RetryHandler]:
    return [RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES), ConnectionErrorRetryHandler()]


def web_client(settings: Settings, *, wait_out_rate_limits: bool = True) -> WebClient:
    """A Web API client. The outbox passes `wait_out_rate_limits=False`: it schedules around a 429 itself
    instead of sleeping in the call."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    handlers: list[RetryHandler] = _retry_handlers() if wait_out_rate_limits else [ConnectionErrorRetryHandler()]
    return WebClient(token=token, base_url=settings.slack_api_url, timeout=TIMEOUT_S, retry_handlers=handlers)


def responder(response_url: str) -> WebhookClient:
    """A client for one `response_url` (Bolt's own `respond` does not retry on 429)."""
    return WebhookClient(url=response_url, timeout=TIMEOUT_S, retry_handlers=_retry_handlers())
