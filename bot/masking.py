"""Masking secrets in text we show: log lines, script output, queue message bodies, HTTP answers.

Two layers: the exact values of secrets the config names (whatever their shape), and the usual shapes of
credentials in text (`Authorization: Bearer …`, `password=…`, `"api_key": "…"`, AWS access key ids, Slack
tokens, private key blocks). What is masked becomes `••••••` so a reader sees that something was there.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "••••••"
_MIN_SECRET = 4          # shorter "secrets" would mask ordinary words

_PATTERNS = (
    # Authorization: Bearer xyz / Basic xyz / Token xyz
    re.compile(r"(?i)\b((?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # key=value, key: value, "key": "value" for credential-like keys
    re.compile(r"""(?ix)
        ((?:["']?)(?:[a-z0-9_-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|
                   private[_-]?key|client[_-]?secret|auth|credentials?|x-cron-secret))(?:["']?)
         \s*[:=]\s*["']?)
        (?!\{\{)([^\s"',;&}]{3,})"""),            # a template ({{secret.X}}) names a secret, it is not one
    re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),                                  # AWS access key ids
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),                                # Slack tokens
    re.compile(r"\bxapp-[A-Za-z0-9-]{10,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S),
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{5,}"),  # JWTs (Supabase keys)
)


class Masker:
    """Masks the given secret values and credential-shaped text. Cheap to build; build one per use."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)
        self._values = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def __call__(self, text: str) -> str:
        if self._values is not None:
            text = self._values.sub(MASK, text)
        for pattern in _PATTERNS:
            text = pattern.sub(_keep_prefix, text)
        return text


def _keep_prefix(match: re.Match[str]) -> str:
    """Keep the key or scheme (`password=`, `Bearer `) so the reader knows what was hidden."""
    return (match.group(1) if match.re.groups >= 1 and match.group(1) else "") + MASK


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    return Masker(secrets)(text)
