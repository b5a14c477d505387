"""The TLS certificate a server presents (a checklist's `tls_expiry`): trusted, valid for the host name,
and how long until it expires — read with the standard library's ssl over one socket with a timeout.

Days left are counted from the injected clock. Trust and "already expired" are OpenSSL's verdict during
the handshake, which uses the machine's own time. When verification fails, the certificate is read once
more without verification, only to name its expiry date in the reason.
"""
from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.clock import Clock
from bot.config.checklists import TlsExpiryCheck
from integrations.base import AdapterError, Finding, Health, UnreachableError

EXPIRED = "certificate has expired"


class TlsCertificate:
    """StatusSource. Down: untrusted, wrong host name, expired, or fewer than `min_days` left. Degraded: fewer
    than `warn_days` (default twice `min_days`) left. Raises UnreachableError when no handshake could start
    (refused, timed out, no such host): then nothing is known about the certificate."""

    def __init__(self, cfg: TlsExpiryCheck, *, clock: Clock) -> None:
        self.cfg, self.clock = cfg, clock
        self.subject = f"{cfg.host}:{cfg.port}"

    @property
    def timeout_s(self) -> float:
        return 2 * self.cfg.timeout.total_seconds()      # a second handshake only to describe a bad certificate

    def check(self) -> Sequence[Finding]:
        try:
            not_after = _not_after_of(self._peer_certificate(self._verifying_context()))
        except ssl.SSLCertVerificationError as exc:
            return [Finding("tls", self.subject, Health.DOWN, self._not_verified(exc))]
        except ssl.SSLError as exc:
            return [Finding("tls", self.subject, Health.DOWN, f"TLS handshake failed ({exc.reason or 'no reason'})")]
        return [self._judge(not_after)]

    def _judge(self, not_after: datetime) -> Finding:
        left = not_after - self.clock()
        expiry = _expiry(not_after, left)
        if left <= timedelta(0):
            return Finding("tls", self.subject, Health.DOWN, f"certificate {expiry}")
        if left < timedelta(days=self.cfg.min_days):
            return Finding("tls", self.subject, Health.DOWN,
                           f"certificate {expiry}: fewer than {self.cfg.min_days} days left")
        if left < timedelta(days=self.cfg.warn_after_days):
            return Finding("tls", self.subject, Health.DEGRADED,
                           f"certificate {expiry}: fewer than {self.cfg.warn_after_days} days left")
        return Finding("tls", self.subject, Health.OK, f"certificate {expiry}")

    def _verifying_context(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=self.cfg.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise AdapterError(f"{self.subject}: cannot read ca_file {self.cfg.ca_file} "
                               f"({type(exc).__name__})") from exc

    def _peer_certificate(self, context: ssl.SSLContext) -> bytes:
        """The server's certificate (DER) after a handshake under `context`; SSLError when the handshake fails."""
        timeout = self.cfg.timeout.total_seconds()
        try:
            with socket.create_connection((self.cfg.host, self.cfg.port), timeout=timeout) as sock, \
                    context.wrap_socket(sock, server_hostname=self.cfg.host) as tls:
                der = tls.getpeercert(binary_form=True)
        except ssl.SSLError:
            raise
        except TimeoutError as exc:
            raise UnreachableError(f"{self.subject}: no answer within {timeout:g}s") from exc
        except ConnectionRefusedError as exc:
            raise UnreachableError(f"{self.subject}: connection refused (nothing listening)") from exc
        except socket.gaierror as exc:
            raise UnreachableError(f"{self.subject}: host name does not resolve") from exc
        except OSError as exc:
            raise UnreachableError(f"{self.subject}: cannot connect ({exc.strerror or type(exc).__name__})") from exc
        if not der:
            raise AdapterError(f"{self.subject}: the server sent no certificate")
        return der

    def _not_verified(self, exc: ssl.SSLCertVerificationError) -> str:
        """Why verification failed, with the expiry date read from an unverified handshake when that works."""
        problem = _verify_problem(exc)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        try:
            not_after = _not_after_of(self._peer_certificate(context))
        except (AdapterError, ssl.SSLError, ValueError):
            return problem
        expiry = _expiry(not_after, not_after - self.clock())
        return f"certificate {expiry}" if problem == EXPIRED else f"{problem}; certificate {expiry}"


def _not_after_of(der: bytes) -> datetime:
    from cryptography import x509  # on first use: ~8 MB a bot without TLS checks does not need

    return x509.load_der_x509_certificate(der).not_valid_after_utc


def _verify_problem(exc: ssl.SSLCertVerificationError) -> str:
    """OpenSSL's verification failure in words: not trusted, wrong name, expired."""
    message = str(exc.verify_message or exc.reason or "verification failed")
    lowered = message.lower()
    if "mismatch" in lowered:
        return f"certificate is not valid for this host ({message})"
    if "expired" in lowered:
        return EXPIRED
    if "not yet valid" in lowered:
        return "certificate is not valid yet"
    return f"certificate is not trusted ({message})"


def _expiry(not_after: datetime, left: timedelta) -> str:
    when = f"{not_after.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    days = abs(left) // timedelta(days=1)
    plural = "day" if days == 1 else "days"
    if left <= timedelta(0):
        return f"expired on {when} ({days} {plural} ago)"
    return f"expires on {when} (in {days} {plural})"
