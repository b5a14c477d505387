"""Slack Web API clients, and the one boundary where Slack's errors become bot.delivery's typed errors.

The clients retry nothing themselves (no slack_sdk retry handlers): rate limits, outages and dropped
connections are the caller's RetryPolicy's business, chosen by the error's type.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient, WebhookResponse

from bot.delivery import RateLimitedError, RefusedError, UnavailableError
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.metrics import Metrics

TIMEOUT_S = 10
# Error codes that mean "Slack itself had trouble": worth another try later. Any other `ok: false` answer
# refuses this message for good (channel_not_found, not_in_channel, invalid_blocks, token_revoked, ...).
TEMPORARY = {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}


class CountedWebClient(WebClient):
    """A WebClient that counts its calls into a bot's Metrics: by method and result, and Slack's 429s."""

    metrics: Metrics | None = None

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        if self.metrics is None:
            return super().api_call(api_method, **kwargs)
        method = api_method.split("?", 1)[0][:60]
        try:
            response = super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            limited = exc.response.status_code == 429
            if limited:
                self.metrics.slack_rate_limited.labels(method).inc()
            self.metrics.slack_calls.labels(method, "ratelimited" if limited else "error").inc()
            raise
        except Exception:
            self.metrics.slack_calls.labels(method, "error").inc()
            raise
        self.metrics.slack_calls.labels(method, "ok").inc()
        return response


def web_client(settings: Settings, *, metrics: Metrics | None = None) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = CountedWebClient(token=token, base_url=settings.slack_api_url, timeout=TIMEOUT_S, retry_handlers=[])
    client.metrics = metrics
    return client


def responder(response_url: str) -> WebhookClient:
    """A client for one `response_url` (the answer to a slash command or a click)."""
    return WebhookClient(url=response_url, timeout=TIMEOUT_S, retry_handlers=[])


def _retry_after(headers: dict[str, str | list[str]] | None) -> float:
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(float(raw), 0.0)
            except ValueError:
                return 1.0
    return 1.0


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Run Slack calls; re-raise slack_sdk's errors as DeliveryError subclasses whose message starts with `what`."""
    try:
        yield
    except SlackApiError as exc:
        status, code = exc.response.status_code, str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        if status == 429:
            raise RateLimitedError(f"{what}: Slack rate-limited us", retry_after=_retry_after(
                dict(exc.response.headers or {}))) from exc
        if status >= 500 or code in TEMPORARY:
            raise UnavailableError(f"{what}: Slack failed ({code})") from exc
        raise RefusedError(f"{what}: Slack refused it ({code})", code=code) from exc
    except (SlackClientError, OSError) as exc:        # unreachable: URLError, timeouts, refused connections
        raise UnavailableError(f"{what}: Slack unreachable ({type(exc).__name__})") from exc


def checked(response: WebhookResponse, what: str) -> None:
    """A response_url answer is not raised by slack_sdk: translate its status the same way."""
    if response.status_code == 429:
        raise RateLimitedError(f"{what}: Slack rate-limited us", retry_after=_retry_after(
            {k: v for k, v in (response.headers or {}).items()}))
    if response.status_code >= 500:
        raise UnavailableError(f"{what}: Slack failed (HTTP {response.status_code})")
    if response.status_code >= 400:
        code = (response.body or f"HTTP {response.status_code}").strip()[:60]
        raise RefusedError(f"{what}: Slack refused it ({code})", code=code)
