"""CloudWatch alarms delivered by an SNS HTTP(S) subscription: verify the signature, then parse.

The signature covers a canonical string of the message's fields (AWS: "Verifying the signatures of
Amazon SNS messages"): SignatureVersion 1 signs it with SHA1, 2 with SHA256, both RSA PKCS#1 v1.5 with
the key in the certificate at SigningCertURL. That URL must be on an SNS host (the pattern is config,
so tests can allow loopback); certificates are fetched once and cached.
"""
from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from bot.alerts.model import (
    AlertEvent,
    BadPayloadError,
    Parsed,
    Reader,
    cleaned,
    labels,
    loads,
    loose,
    needs_cleaning,
    per_alert,
)
from bot.config.alerts import SnsSettings
from bot.config.services import Service

if TYPE_CHECKING:
    from cryptography import x509

# cryptography and httpx are imported when the first SNS message arrives: a bot that never receives one
# does not carry them (about 10 MB of memory).

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
HASHES = {"1": "SHA1", "2": "SHA256"}       # SignatureVersion -> cryptography.hazmat.primitives.hashes class
CLOUDWATCH_STATE = {"ALARM": "firing", "INSUFFICIENT_DATA": "firing", "OK": "resolved"}
SEVERITY_TAG = re.compile(r"\b(P[1-4])\b")
CertFetcher = Callable[[str], bytes]


class CertificateFetchError(Exception):
    """The signing certificate could not be fetched."""


def fetch_certificate(url: str) -> bytes:
    import httpx

    try:
        response = httpx.get(url, timeout=5.0)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise CertificateFetchError(type(exc).__name__) from exc
    return response.content


class CertificateCache:
    """Signing certificates by URL, fetched at most once each."""

    def __init__(self, fetch: CertFetcher = fetch_certificate) -> None:
        self._fetch, self._lock = fetch, threading.Lock()
        self._certs: dict[str, x509.Certificate] = {}

    def get(self, url: str) -> x509.Certificate:
        from cryptography import x509

        with self._lock:
            cert = self._certs.get(url)
        if cert is None:
            try:
                cert = x509.load_pem_x509_certificate(self._fetch(url))
            except (CertificateFetchError, ValueError) as exc:
                cause = str(exc) if isinstance(exc, CertificateFetchError) else type(exc).__name__
                raise BadPayloadError(f"cannot load the signing certificate ({cause})") from exc
            with self._lock:
                self._certs[url] = cert
        return cert


@dataclass(frozen=True, slots=True)
class SnsMessage:
    kind: str                          # Notification | SubscriptionConfirmation | UnsubscribeConfirmation
    events: list[Parsed]
    subscribe_url: str | None = None
    receipt: str = ""                  # sns:<MessageId>: SNS repeats it when it retries a delivery


def string_to_sign(msg: dict[str, Any]) -> bytes:
    fields = NOTIFICATION_FIELDS if msg.get("Type") == "Notification" else CONFIRMATION_FIELDS
    # surrogatepass: a lone surrogate (legal JSON, never in a real SNS message) makes the signature fail, not us
    return "".join(f"{k}\n{msg[k]}\n" for k in fields if k in msg and msg[k] is not None).encode("utf-8",
                                                                                               "surrogatepass")


def _check_url(url: str, settings: SnsSettings, what: str) -> None:
    try:
        parts = urlparse(url)
        host = parts.hostname or ""
    except ValueError:                       # e.g. "http://[::1": not a URL at all
        raise BadPayloadError(f"{what} is not a URL", status=403) from None
    if parts.scheme != settings.cert_scheme or not re.match(settings.cert_host_pattern, host):
        raise BadPayloadError(f"{what} is not on an allowed SNS host", status=403)


def verify(msg: dict[str, Any], settings: SnsSettings, certs: CertificateCache) -> None:
    """Raise BadPayloadError unless `msg` is signed by SNS for one of our topics."""
    if msg.get("TopicArn") not in settings.topics:
        raise BadPayloadError(f"topic {loose(msg.get('TopicArn'), 120)} is not in alerts.sns.topics", status=403)
    algorithm = HASHES.get(str(msg.get("SignatureVersion")))
    if algorithm is None:
        raise BadPayloadError("unknown SignatureVersion (expected 1 or 2)")
    cert_url = str(msg.get("SigningCertURL", ""))
    _check_url(cert_url, settings, "SigningCertURL")
    if not urlparse(cert_url).path.endswith(".pem"):
        raise BadPayloadError("SigningCertURL is not a .pem certificate", status=403)
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = certs.get(cert_url).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise BadPayloadError("the signing certificate has no RSA key", status=403)
    try:
        key.verify(base64.b64decode(str(msg.get("Signature", ""))), string_to_sign(msg), padding.PKCS1v15(),
                   getattr(hashes, algorithm)())
    except (InvalidSignature, ValueError):
        raise BadPayloadError("signature does not verify", status=403) from None


def parse(body: bytes, settings: SnsSettings, certs: CertificateCache, services: tuple[Service, ...]) -> SnsMessage:
    msg: Any = loads(body, clean=False)       # the signature covers the strings as sent
    if not isinstance(msg, dict) or msg.get("Type") not in ("Notification", "SubscriptionConfirmation",
                                                             "UnsubscribeConfirmation"):
        raise BadPayloadError("not an SNS message (Type missing or unknown)")
    for required in ("MessageId", "TopicArn", "Message", "Timestamp", "Signature"):
        if not msg.get(required):
            raise BadPayloadError(f"SNS message without {required}")
    verify(msg, settings, certs)
    if needs_cleaning(body):
        msg = cleaned(msg)
    if msg["Type"] != "Notification":
        url = str(msg.get("SubscribeURL", ""))
        if msg["Type"] == "SubscriptionConfirmation":
            _check_url(url, settings, "SubscribeURL")
        return SnsMessage(msg["Type"], [], subscribe_url=url or None)
    events = per_alert([msg], lambda m, r: _event(m, r, services), lambda _: "Message")
    return SnsMessage("Notification", events, receipt=f"sns:{loose(msg['MessageId'], 100)}")


def _event(msg: dict[str, Any], r: Reader, services: tuple[Service, ...]) -> AlertEvent:
    alarm = _alarm(msg["Message"])
    if alarm is None:
        subject = r.text(msg.get("Subject"), "Subject", 300) or loose(msg["Message"], 120)
        return AlertEvent(source="sns", dedup_key=f"sns:{loose(msg['MessageId'], 100)}", title=subject,
                          status="firing", reason=loose(msg["Message"], 1000))
    name = r.text(alarm["AlarmName"], "AlarmName", 200)
    r.required(AlarmName=name)
    state = r.text(alarm.get("NewStateValue"), "NewStateValue", 40) or "ALARM"
    tag = SEVERITY_TAG.search(loose(alarm.get("AlarmDescription"), 1000))
    trigger = r.mapping(alarm.get("Trigger"), "Trigger")
    details = {"state": state, "region": loose(alarm.get("Region"), 40),
               "account": loose(alarm.get("AWSAccountId"), 20),
               "metric": f"{loose(trigger.get('Namespace'), 60)} {loose(trigger.get('MetricName'), 60)}".strip()}
    return AlertEvent(
        source="sns", dedup_key=f"cw:{r.text(alarm.get('AlarmArn'), 'AlarmArn', 200) or name}", title=name,
        status=CLOUDWATCH_STATE.get(state, "firing"), severity=tag.group(1) if tag else None,
        service=next((s.name for s in services if name in s.alarms), None),
        reason=r.text(alarm.get("NewStateReason"), "NewStateReason", 1000) or None,
        details=labels({k: v for k, v in details.items() if v}),
    )


def _alarm(message: object) -> dict[str, Any] | None:
    """The CloudWatch alarm in an SNS message, or None when the message is something else."""
    if not isinstance(message, str):
        return None
    try:
        alarm = loads(message, "Message")
    except BadPayloadError:
        return None
    return alarm if isinstance(alarm, dict) and "AlarmName" in alarm else None
