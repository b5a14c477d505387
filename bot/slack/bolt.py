"""The Bolt app and how HTTP reaches it: the shape check and delivery dedupe, the listeners, the work pool.

Acks come first. Slack waits at most 3 s for an ack but half an hour for an answer, so the pool that does a
command's work after its ack (`AckFirstPool`) starts a task only once no request is waiting for its ack (or
after MAX_DEFER_S): under a burst of commands the acks are not slowed by the work of the commands before them.

Both pools (Bolt's listeners', and the work after the ack) run each task in a copy of the context it was
submitted from: the lines a command logs on them carry its request's id (bot.logfmt).
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from http import HTTPStatus
from typing import Any, ParamSpec, TypeVar

from slack_bolt import App, BoltRequest, BoltResponse

from bot.http import StartResponse, WsgiApp, request_headers
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack import listeners, middleware
from bot.slack.board import SlackBoard

log = logging.getLogger(__name__)
SLACK_PATH = "/slack/events"
LISTENER_THREADS = 16   # Bolt's default is 5; listeners only ack and hand off, but keep headroom
WORK_THREADS = 16       # commands run here after the ack
MAX_DEFER_S = 0.5       # how long work waits for the acks in flight before it runs anyway
SETTLE_S = 0.03         # ... and for no new request to arrive after the last ack
MAX_BODY = 1 << 20      # Slack's largest payload (a click carrying a 50-block message) is far smaller
MAX_SKEW_S = 5 * 60     # a request signed longer ago than this is refused (a replay)
P = ParamSpec("P")
T = TypeVar("T")


class AckGate:
    """Counts the Slack requests waiting for their ack. `quiet()` waits until none has been in flight for
    SETTLE_S (a burst's requests arrive spread over some milliseconds), at most `max_defer_s` in all."""

    def __init__(self, max_defer_s: float = MAX_DEFER_S, settle_s: float = SETTLE_S) -> None:
        self._busy, self._max_defer_s, self._settle_s = 0, max_defer_s, settle_s
        self._last = 0.0                         # when the last ack went out (time.monotonic())
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def acking(self) -> Iterator[None]:
        with self._changed:
            self._busy += 1
        try:
            yield
        finally:
            with self._changed:
                self._busy -= 1
                self._last = time.monotonic()
                if not self._busy:
                    self._changed.notify_all()

    def quiet(self) -> None:
        deadline = time.monotonic() + self._max_defer_s
        with self._changed:
            while (now := time.monotonic()) < deadline:
                calm_in = 0.0 if self._busy else self._last + self._settle_s - now
                if not self._busy and calm_in <= 0:
                    return
                self._changed.wait(min(deadline, now + calm_in) - now if calm_in > 0 else deadline - now)


class InContext(Executor):
    """An executor whose tasks run in a copy of the submitter's context (its request id among it)."""

    def __init__(self, pool: Executor) -> None:
        self._pool = pool

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        context = contextvars.copy_context()

        def in_context() -> T:
            return context.run(fn, *args, **kwargs)

        return self._pool.submit(in_context)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


class AckFirstPool(Executor):
    """An executor whose tasks start once `gate` is quiet: the work after an ack yields to the acks in flight.
    Each runs in a copy of the submitter's context (InContext)."""

    def __init__(self, pool: Executor, gate: AckGate) -> None:
        self._pool, self._gate = InContext(pool), gate

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        def after_acks() -> T:
            self._gate.quiet()
            return fn(*args, **kwargs)

        return self._pool.submit(after_acks)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


class OpsApp(App):
    """Bolt's App, refusing with a 400 any request whose shape is not one opsbot handles before Bolt reads it:
    over HTTP, over Socket Mode and in tests alike."""

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        return middleware.checked(req) or super().dispatch(req)


def build_bolt_app(rt: Runtime, board: SlackBoard, *, work_pool: Executor | None = None,
                   gate: AckGate | None = None, token_verification: bool = True, socket_mode: bool = False) -> App:
    """The Bolt app; commands run on `work_pool` after the ack (tests pass their own to wait for it), each
    once `gate` (the HTTP handler's, see `wsgi_handler`) has no ack in flight.

    Over HTTP every request is verified with the signing secret; in Socket Mode requests arrive on the
    WebSocket the app token opened, and there is nothing to verify."""
    rt.settings.require("slack_bot_token", *(() if socket_mode else ("slack_signing_secret",)))
    secret = rt.settings.slack_signing_secret
    app = OpsApp(
        client=board.client,
        signing_secret=secret.get_secret_value() if secret else None,
        request_verification_enabled=not socket_mode,
        # Bolt submits each listener from the request's thread but does not carry its context over: InContext does.
        listener_executor=InContext(ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="opsbot-listener")),
        token_verification_enabled=token_verification,
    )
    middleware.register(app)
    pool = work_pool or ThreadPoolExecutor(WORK_THREADS, thread_name_prefix="opsbot-work")
    listeners.register(app, rt, board, AckFirstPool(pool, gate or AckGate()))
    return app


def wsgi_handler(app: App, settings: Settings, *, gate: AckGate | None = None) -> WsgiApp:
    """POST /slack/events for the HTTP transport: the body read (bounded), its signature checked over the exact
    bytes, then parsed, and Bolt dispatches. Oversize: 413; unsigned, forged or stale: 401; signed but not a
    Slack payload at all: 400 (the shape of a parsed payload is checked by middleware.problem)."""
    settings.require("slack_signing_secret")
    assert settings.slack_signing_secret is not None
    secret = settings.slack_signing_secret.get_secret_value().encode()
    gate = gate or AckGate()

    def handle(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        with gate.acking():
            resp = _dispatch(app, secret, environ)
        body = resp.body.encode("utf-8", "replace") if isinstance(resp.body, str) else bytes(resp.body)
        headers = [(k, v) for k, values in resp.headers.items() for v in values if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{resp.status} {HTTPStatus(resp.status).phrase}", headers)
        return [body]

    return handle


def signed(secret: bytes, raw: bytes, headers: dict[str, str], *, now: float | None = None) -> bool:
    """Slack's v0 signature over the body's exact bytes, with a timestamp at most five minutes off."""
    stamp, signature = headers.get("x-slack-request-timestamp", ""), headers.get("x-slack-signature", "")
    if not stamp.isascii() or not stamp.isdigit() or abs((now or time.time()) - int(stamp)) > MAX_SKEW_S:
        return False
    expected = "v0=" + hmac.new(secret, b"v0:" + stamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def _dispatch(app: App, secret: bytes, environ: dict[str, Any]) -> BoltResponse:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return middleware.refusal(400, "bad Content-Length")
    if length > MAX_BODY:
        return middleware.refusal(413, f"a Slack request is at most {MAX_BODY} bytes")
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    headers = request_headers(environ)
    headers["content-type"] = environ.get("CONTENT_TYPE", "")
    if not signed(secret, raw, headers):
        return middleware.refusal(401, "invalid request signature")
    try:
        req = BoltRequest(body=raw.decode("utf-8"), query=environ.get("QUERY_STRING", ""), headers=dict(headers))
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError) as exc:
        # Not a Slack payload at all (not UTF-8, not JSON, JSON but not an object...): Bolt could not read it.
        log.info("malformed Slack request refused: unreadable body (%s)", type(exc).__name__)
        return middleware.refusal(400, "malformed Slack request: the body is not a Slack payload")
    return app.dispatch(req)
