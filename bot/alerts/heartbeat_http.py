"""POST /alerts/heartbeat/<name>: a job says it ran (bot.alerts.heartbeats; docs/alerts.md, "Heartbeats").

    curl -fsS -m 10 --retry 3 -X POST -H "Authorization: Bearer $TOKEN" https://opsbot.example.com/alerts/heartbeat/weather-monitor

Checked in this order, as the alert receivers do; each refusal is a 4xx with its reason, a WARNING line and a
count (the receivers' `refused` tally, receiver `heartbeat`): the name (404 when no heartbeat has it), the
method (405 unless POST), the body's size (413 past MAX_BEAT_BODY), the token (403 when the bot has none to
compare with, 401 when the request's is missing or wrong; compared in constant time). The body is optional:
a JSON object's `note` (text, at most NOTE_MAX characters, made safe) is kept with the beat; any other body is
ignored, the beat still counts, and the answer says so. 503 only when the database is unavailable (the
sender may retry); otherwise 200 with the beat's time and the next deadline.
"""
from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from typing import Any

from bot.alerts.heartbeats import NOTE_MAX, Heartbeats
from bot.alerts.model import BadPayloadError, loads, loose
from bot.alerts.receive import DATA_OR_STORAGE, Answer, Receivers, unavailable
from bot.alerts.rejected import Tally
from bot.config.heartbeats import HeartbeatConfig
from bot.config.secrets import SecretMissing

log = logging.getLogger(__name__)
RECEIVER = "heartbeat"
MAX_BEAT_BODY = 4096
NOT_READ = 'the body is not a JSON object, so it was ignored (send {"note": "…"} to keep a note)'


class HeartbeatReceiver:
    def __init__(self, heartbeats: Heartbeats, *, environ: Mapping[str, str], refused: Tally,
                 on_stored: Callable[[], None] = lambda: None) -> None:
        self.heartbeats, self.environ, self.refused, self.on_stored = heartbeats, environ, refused, on_stored

    @classmethod
    def beside(cls, receivers: Receivers) -> HeartbeatReceiver:
        """One on the alert receivers' database, environment, refusal counts and outbox."""
        alerts = receivers.alerts
        return cls(Heartbeats(alerts.sessions, alerts.clock, alerts.config), environ=receivers.environ,
                   refused=receivers.refused, on_stored=receivers.on_stored)

    def handle(self, name: str, method: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """(HTTP status, JSON answer) for one request; raises only for a bug, never for bad input."""
        try:
            hb = self._admit(name, method, body, {k.lower(): v for k, v in headers.items()})
        except BadPayloadError as exc:
            log.warning("refused a heartbeat for %r: %s", name[:80], exc)
            self.refused.add(RECEIVER, str(exc.status))
            return exc.status, {"error": str(exc)}
        note, ignored = _note(body)
        try:
            beat = self.heartbeats.beat(hb.name, note=note)
        except DATA_OR_STORAGE as exc:
            if not unavailable(exc):
                raise
            log.warning("could not record a beat of %s: the database is unavailable (%s)", hb.name,
                        type(exc).__name__)
            return 503, {"error": "heartbeat storage unavailable; retry later"}
        if beat.resolved:
            self.on_stored()                          # the resolved card is queued: wake the outbox
        answer: dict[str, Any] = {"heartbeat": hb.name, "beat_at": beat.at.isoformat(),
                                  "next_due": beat.next_due.isoformat(), "resolved": list(beat.resolved)}
        if ignored:
            answer["ignored"] = ignored
        return 200, answer

    def _admit(self, name: str, method: str, body: bytes, headers: Mapping[str, str]) -> HeartbeatConfig:
        hb = self.heartbeats.config.heartbeat(name)
        if hb is None:
            raise BadPayloadError(f"no heartbeat named {name[:63]!r} (heartbeats are named in the bot's config)",
                                  status=404)
        if method != "POST":
            raise BadPayloadError("POST only", status=405)
        if len(body) > MAX_BEAT_BODY:
            raise BadPayloadError(f"body larger than {MAX_BEAT_BODY} bytes", status=413)
        expected = self._token(hb)
        if expected is None:
            raise BadPayloadError(f"heartbeat {hb.name!r} is not enabled: the bot has no token for it", status=403)
        auth = headers.get("authorization", "")
        if not (auth.startswith("Bearer ") and _same(auth[7:].strip(), expected)):
            raise BadPayloadError("missing or wrong credentials (Authorization: Bearer <token>)", status=401)
        return hb

    def _token(self, hb: HeartbeatConfig) -> str | None:
        """The heartbeat's own token, else the generic webhook's; None when neither is set (the log says where)."""
        if hb.token is not None:
            try:
                return hb.token.reveal(self.environ)
            except SecretMissing as exc:
                log.warning("heartbeat %s: %s", hb.name, exc)
                return None
        env = self.heartbeats.config.alerts.webhook.token_env
        token = self.environ.get(env, "") if env else ""
        if not token:
            log.warning("heartbeat %s: the webhook's token (environment variable %s) is not set", hb.name, env)
        return token or None


def _same(given: str, expected: str) -> bool:
    """Constant-time equality that also takes a header with non-ASCII characters (as bot.alerts.webhook)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def _note(body: bytes) -> tuple[str | None, str | None]:
    """(the note to keep, why the body was ignored)."""
    if not body.strip():
        return None, None
    try:
        doc = loads(body)
    except BadPayloadError:
        return None, NOT_READ
    if not isinstance(doc, dict):
        return None, NOT_READ
    return loose(doc.get("note"), NOTE_MAX) or None, None
