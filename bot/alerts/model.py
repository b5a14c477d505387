"""One normalized alert event, whatever sent it; what a receiver says about an alert it refuses; and the
rules that turn untrusted JSON into text both databases store and a person can read.

Limits are checked before anything is parsed deeply: a body over MAX_BODY bytes, or nested deeper than
MAX_DEPTH (a cheap scan of the bytes, outside strings), is refused as a whole.

Text fields (docs/alerts.md, "What a receiver accepts"):
- Every string of the document, keys too, is made safe as it is decoded (`loads`): NUL and the other C0
  control characters except tab and newline become U+FFFD (CR LF becomes LF first), and so do lone
  surrogates (legal in JSON, refused by every UTF-8 codec).
- A number or a boolean where text is expected is written as JSON writes it (`2`, `0.5`, `true`).
- An object or a list where text is expected rejects the alert with the field's path ("wrong_type").
- Labels, annotations and details are free-form maps: their keys are made safe, and a value that is an
  object or a list is kept as its compact JSON text. A map that is not an object rejects the alert.
"""
from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_BODY = 1_000_000
MAX_DEPTH = 32
MAX_LABELS = 20
EXCERPT = 300

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff]")
_RISKY_ESCAPE = re.compile(rb"\\(?:[bfr]|u00[01][0-9a-fA-F]|u[dD][89a-fA-F][0-9a-fA-F]{2})")
_NOT_SYNTAX = bytes(b for b in range(256) if b not in b'[]{}"')
_SQUARE = bytes.maketrans(b"{}", b"[]")


class BadPayloadError(Exception):
    """The request is not an alert we accept; str() is the reason returned with the 4xx."""

    def __init__(self, reason: str, *, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """A firing or a resolution of the alert named by `dedup_key`."""

    source: str                           # sns | alertmanager | webhook | heartbeat
    dedup_key: str
    title: str
    status: str                           # firing | resolved
    severity: str | None = None           # the sender's word ("critical", "warning", "P1"); mapped to P1..P4 later
    service: str | None = None
    reason: str | None = None
    runbook_url: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    receipt: str | None = None            # unused by the receivers: a delivery's receipt goes to Alerts.ingest
    channel: str | None = None            # where its card goes, before alerts.routes (a heartbeat's `route`)


@dataclass(frozen=True, slots=True)
class Rejection:
    """One alert of a delivery that is not stored: its place in the delivery, why, and what it looked like."""

    index: int
    code: str                             # not_an_object | missing_field | invalid_status | wrong_type | unstorable
    reason: str                           # names the alert and the field, e.g. "alerts[3].labels.service is an object…"
    excerpt: str = ""                     # the start of the alert as compact JSON, made safe


Parsed = AlertEvent | Rejection


class InvalidAlert(Exception):
    """Raised while reading one alert: it becomes that alert's Rejection, the rest of the batch goes on."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


# --- whole bodies ----------------------------------------------------------------------------------------------

def check_limits(body: bytes) -> None:
    """Refuse a body that is too large (413) or nested too deeply (400), before it is parsed."""
    if len(body) > MAX_BODY:
        raise BadPayloadError(f"body larger than {MAX_BODY} bytes", status=413)
    if nesting(body) > MAX_DEPTH:
        raise BadPayloadError(f"body nested deeper than {MAX_DEPTH}")


def nesting(data: bytes) -> int:
    """How deep the brackets of a JSON text go, strings skipped; MAX_DEPTH + 1 for anything deeper.

    All in C-speed bytes operations (a 1 MB body takes milliseconds): drop escaped backslashes and quotes,
    keep only brackets and quotes, drop what lies between quotes, then peel the innermost pairs off, one
    level a round. Brackets that never pair (not JSON) count as going deeper still."""
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    shape = b"".join(data.translate(None, _NOT_SYNTAX).split(b'"')[::2]).translate(_SQUARE)
    for depth in range(MAX_DEPTH + 2):
        if not shape:
            return depth
        peeled = shape.replace(b"[]", b"")
        if len(peeled) == len(shape):        # what is left is "]]…[[": unmatched, so count the openers too
            return min(MAX_DEPTH + 1, depth + len(shape) - len(shape.rstrip(b"[")))
        shape = peeled
    return MAX_DEPTH + 1


def loads(data: str | bytes, what: str = "body", *, clean: bool = True) -> Any:
    """JSON from untrusted input within the limits, its strings made safe (unless `clean` is False: SNS checks
    a signature over the strings as sent first); BadPayloadError(400) naming `what` otherwise."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if nesting(raw) > MAX_DEPTH:
        raise BadPayloadError(f"{what} nested deeper than {MAX_DEPTH}")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):         # UnicodeDecodeError is a ValueError
        raise BadPayloadError(f"{what} is not JSON") from None
    return cleaned(doc) if clean and needs_cleaning(raw) else doc


def needs_cleaning(raw: bytes) -> bool:
    """Whether a JSON text may decode to a string `safe` would change. JSON allows no raw control character
    in a string, and a surrogate in UTF-8 does not decode: both arrive only as escapes. A NUL byte means the
    text is not UTF-8 (json also reads UTF-16 and UTF-32): then look at every string."""
    return b"\x00" in raw or _RISKY_ESCAPE.search(raw) is not None


def cleaned(value: Any) -> Any:
    """A decoded JSON value with every string, keys too, made safe (depth is bounded by MAX_DEPTH)."""
    if isinstance(value, str):
        return safe(value)
    if isinstance(value, dict):
        return {safe(k): cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [cleaned(v) for v in value]
    return value


# --- one alert at a time ---------------------------------------------------------------------------------------

def per_alert(items: Iterable[Any], read: Callable[[dict[str, Any], Reader], AlertEvent],
              where: Callable[[int], str]) -> list[Parsed]:
    """Read each item with `read`; an item that is not an object, or that `read` finds invalid, is rejected."""
    out: list[Parsed] = []
    for i, item in enumerate(items):
        reader = Reader(where(i))
        try:
            if not isinstance(item, dict):
                raise InvalidAlert("not_an_object", f"{reader.where} is not an object")
            out.append(read(item, reader))
        except InvalidAlert as exc:
            out.append(Rejection(i, exc.code, exc.reason, excerpt(item)))
    return out


class Reader:
    """Reads the fields of one alert by the rules above; `where` names the alert in a rejection's reason."""

    def __init__(self, where: str) -> None:
        self.where = where

    def text(self, value: object, name: str, limit: int) -> str:
        """Text for a field with a meaning (title, severity, service, key…); "" when absent."""
        if type(value) is str:
            return value if len(value) <= limit else trim(value, limit)
        if value is None:
            return ""
        if isinstance(value, dict | list):
            kind = "an object" if isinstance(value, dict) else "a list"
            raise InvalidAlert("wrong_type", f"{self.where}.{name} is {kind}, not text")
        return trim(scalar(value), limit)

    def status(self, value: object, default: str | None = None) -> str:
        if value is None and default is not None:
            return default
        if value not in ("firing", "resolved"):
            raise InvalidAlert("invalid_status", f"{self.where}.status must be firing or resolved")
        return str(value)

    def required(self, **fields: str) -> None:
        missing = [name for name, value in fields.items() if not value]
        if missing:
            raise InvalidAlert("missing_field", f"{self.where} is missing {', '.join(missing)}")

    def mapping(self, value: object, name: str) -> dict[str, Any]:
        """A free-form map as sent ({} when absent); anything but an object rejects the alert."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise InvalidAlert("wrong_type", f"{self.where}.{name} is not an object")
        return value


def labels(value: Mapping[str, Any], *, key_limit: int = 64, value_limit: int = 200) -> dict[str, str]:
    """The first MAX_LABELS entries of a free-form map as text (objects and lists as compact JSON)."""
    return {(k if len(k) <= key_limit else trim(k, key_limit)): loose(v, value_limit)
            for k, v in itertools.islice(value.items(), MAX_LABELS)}


def loose(value: object, limit: int) -> str:
    """Any JSON value (from `loads`: its strings are safe already) as text: what a free-form map's values become."""
    if type(value) is str:
        return value if len(value) <= limit else trim(value, limit)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return trim(json.dumps(value, ensure_ascii=False, separators=(",", ":")), limit)
    return trim(scalar(value), limit)


def scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def safe(value: str) -> str:
    """The text with NUL, other C0 controls (not tab, newline) and lone surrogates as U+FFFD; CR LF as LF."""
    return _UNSAFE.sub("\ufffd", value.replace("\r\n", "\n"))


def trim(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def excerpt(item: object) -> str:
    """The start of a rejected alert as compact JSON, safe to store and log."""
    try:
        dumped = json.dumps(item, ensure_ascii=False, separators=(",", ":"), default=str)
    except (ValueError, RecursionError):
        dumped = repr(item)
    return trim(safe(dumped[: EXCERPT * 2]), EXCERPT)
