"""HTTP health checks: `GET <url>`, expected status, and a `/health` JSON body read the way people write them."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.clock import humanize
from bot.config.secrets import SecretMissing, SecretRef
from bot.config.services import HealthCheckConfig
from bot.masking import Masker
from integrations.base import Finding, Health
from integrations.deferred import Once

if TYPE_CHECKING:
    import ssl

    import httpx

OK_WORDS = {"ok", "healthy", "up", "pass", "passing", "green", "connected", "available", "running", "true"}
DEGRADED_WORDS = {"degraded", "warn", "warning", "yellow", "partial", "slow"}
EXPLAIN_KEYS = ("reason", "message", "error", "detail")
USER_AGENT = "opsbot-health/0.1"
CONNECTIONS_PER_CHECK = 4


class HttpClients:
    """Makes each health check its own httpx client; all of them share one TLS context and these settings.

    One client per check, not one for every check: httpcore's pool re-scans all its connections and waiting
    requests under one lock whenever a request starts or ends, so a hundred checks at once on one pool pay
    O(n²) bookkeeping and queue on that lock (a fifth more CPU per fan-out; bench/RESULTS.md has the figures).
    A check's own pool also keeps its service's connection open between checks. The TLS context (loading the
    CA bundle, ~20 ms, is the costly part of making a client) is made once, on the first check: httpx is
    imported then, so a bot that has not checked anything yet does not carry it.
    """

    def __init__(self) -> None:
        self._ssl: ssl.SSLContext | None = None
        self._shared: httpx.Client | None = None
        self._lock = threading.Lock()

    def get(self) -> httpx.Client:
        """One client for the bot's other plain HTTP reads (a Lambda version's code, Prometheus), made on first
        use; each request carries its own timeout."""
        with self._lock:
            if self._shared is None:
                import httpx

                self._shared = httpx.Client(follow_redirects=True, headers={"User-Agent": USER_AGENT})
            return self._shared

    def make(self, *, headers: Mapping[str, str], timeout_s: float) -> httpx.Client:
        import httpx

        with self._lock:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
        # A check runs one request at a time; more only when fan-outs overlap (the shared pool bounds those).
        limits = httpx.Limits(max_connections=CONNECTIONS_PER_CHECK, max_keepalive_connections=1)
        return httpx.Client(verify=self._ssl, limits=limits, follow_redirects=True, headers=headers,
                            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0)))


class HttpHealth:
    """A service's `health:` URL, judged by status code and, when the body is JSON, by what it says."""

    def __init__(self, cfg: HealthCheckConfig, clients: HttpClients) -> None:
        self._cfg = cfg
        self._clients = clients
        self._url = str(cfg.url)
        self._client = Once(self._make_client)
        self._request = Once(self._build_request)

    @property
    def timeout_s(self) -> float:
        return self._cfg.timeout.total_seconds()

    def _make_client(self) -> httpx.Client:
        """This check's client, made on its first run, with what every one of its requests carries."""
        return self._clients.make(headers={"User-Agent": USER_AGENT}, timeout_s=self.timeout_s)

    def _build_request(self) -> httpx.Request:
        """The request, built once: the same GET every time, so URL parsing and header merging are not redone
        while a hundred other checks wait for the interpreter. A check with configured headers builds its
        request on each run instead: a secret among them is read when used (a rotated key is picked up)."""
        return self._client().build_request("GET", self._url)

    def _headers(self) -> dict[str, str]:
        """The configured headers, secrets read now (SecretMissing names the one that is not set)."""
        return {k: v.reveal() if isinstance(v, SecretRef) else v for k, v in self._cfg.headers.items()}

    def check(self) -> Sequence[Finding]:
        import httpx

        subject = f"GET {self._url}"
        mask = Masker(())
        if self._cfg.headers:
            try:
                headers = self._headers()
            except SecretMissing as exc:
                return [Finding("http", subject, Health.UNKNOWN, f"not asked: {exc}")]
            mask = Masker([headers[k] for k in self._cfg.secret_headers()])
            client = self._client()
            request = client.build_request("GET", self._url, headers=headers)
        else:
            client, request = self._client(), self._request()   # made on the first check: not part of the latency
        started = time.monotonic()
        try:
            # A redirect would carry the headers to wherever it points: with secrets, the answer is the redirect.
            response = client.send(request, follow_redirects=not self._cfg.secret_headers())
        except httpx.TimeoutException:
            return [Finding("http", subject, Health.DOWN, f"no answer within {humanize(self._cfg.timeout)}")]
        except httpx.ConnectError as exc:
            return [Finding("http", subject, Health.DOWN, _connect_reason(exc))]
        except httpx.HTTPError as exc:
            return [Finding("http", subject, Health.DOWN, f"request failed ({type(exc).__name__})")]
        latency = timedelta(seconds=time.monotonic() - started)
        health, reason = judge(response.status_code, response.content, expect_status=self._cfg.expect_status)
        ms = f"{latency.total_seconds() * 1000:.0f} ms"
        summary = f"HTTP {response.status_code} in {ms}" + (f": {mask(reason)}" if reason else "")
        return [Finding("http", subject, health, summary, latency=latency)]


def _connect_reason(exc: httpx.ConnectError) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused (nothing listening)"
    if "name" in text and ("resolv" in text or "known" in text):
        return "host name does not resolve"
    return "cannot connect"


def judge(status: int, body: bytes, *, expect_status: int) -> tuple[Health, str]:
    """Health and a one-line reason ('' when all is well) from a status code and a response body."""
    if status != expect_status:
        detail = _json_problems(body)
        reason = f"expected {expect_status}" + (f"; {detail[1]}" if detail and detail[1] else "")
        return Health.DOWN, reason
    verdict = _json_problems(body)
    if verdict is None:
        return Health.OK, ""
    return verdict


def _json_problems(body: bytes) -> tuple[Health, str] | None:
    """Read a JSON health document: top-level `status` decides; components not ok make it degraded.

    Free-text fields (`reason`, `message`, ...) are quoted only when something is wrong.
    """
    try:
        doc: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    broken = [f"{key}: {_short(value)}" for key, value in doc.items()
              if key != "status" and isinstance(value, str | bool) and _word(value) not in OK_WORDS
              and _looks_like_state(value)]
    explained = [f"{key}: {_short(doc[key])}" for key in EXPLAIN_KEYS if isinstance(doc.get(key), str)]
    status = doc.get("status")
    word = _word(status) if status is not None else "ok"
    if word in OK_WORDS:
        return (Health.DEGRADED, ", ".join(broken + explained)) if broken else (Health.OK, "")
    problems = ", ".join([f"status: {_short(status)}", *broken, *explained])
    return (Health.DEGRADED if word in DEGRADED_WORDS else Health.DOWN), problems


STATE_WORDS = OK_WORDS | DEGRADED_WORDS | {
    "down", "unhealthy", "fail", "failed", "failing", "error", "disconnected", "unavailable", "false", "red",
    "timeout", "critical", "stopped",
}


def _looks_like_state(value: str | bool) -> bool:
    """Only values that read as a state ('disconnected', false) count; versions and names do not."""
    return isinstance(value, bool) or _word(value) in STATE_WORDS


def _word(value: object) -> str:
    return str(value).strip().lower()


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"
