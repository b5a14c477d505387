"""Checklist check kinds that ask AWS about one resource: the newest object under an S3 prefix
(`s3_latest_object`), the age of a Secrets Manager secret (`secret_age`) and a KMS key (`kms_key`).

Ages warn before they fail: at `warn_age`, else at WARN_SHARE of `max_age`."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from bot.clock import humanize
from bot.config.values import PositiveDuration, Strict

WARN_SHARE = 0.8        # an age past this share of max_age warns, unless warn_age says otherwise
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
               "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def parse_size(value: Any) -> Any:
    """Accept bytes as a number, or '12 KB', '1MB', '1.5 GiB' (KB, MB, GB, TB are powers of 1000; KiB, MiB,
    GiB, TiB of 1024)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match is None:
            raise ValueError(f"not a size: {value!r} (use bytes, or e.g. 500 KB, 1 MB, 2 GiB)")
        number, unit = match.groups()
        return int(float(number) * _SIZE_UNITS[(unit or "b").lower()])
    return value


Size = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]


def size_text(size: int) -> str:
    """12345 -> '12 KB', 1500000 -> '1.5 MB', 512 -> '512 B' (powers of 1000, as `min_size` is written)."""
    value, unit = float(size), "B"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            break
        value /= 1000
    shown = f"{value:.0f}" if unit == "B" or value >= 100 else f"{value:.3g}"
    return f"{shown} {unit}"


class _Aging(Strict):
    """An age limit: `max_age` fails, `warn_age` (default WARN_SHARE of max_age) warns."""

    max_age: PositiveDuration
    warn_age: PositiveDuration | None = None

    @model_validator(mode="after")
    def _warn_before_fail(self) -> _Aging:
        if self.warn_age is not None and self.warn_age > self.max_age:
            raise ValueError(f"warn_age ({humanize(self.warn_age)}) is longer than max_age "
                             f"({humanize(self.max_age)}): it would never warn")
        return self

    @property
    def warn_after(self) -> timedelta:
        return self.warn_age if self.warn_age is not None else self.max_age * WARN_SHARE


class S3LatestObjectCheck(_Aging):
    """The newest object under `prefix` in `bucket` is younger than `max_age` and at least `min_size`."""

    check: Literal["s3_latest_object"]
    bucket: str
    prefix: str = Field(default="", max_length=1024)
    min_size: Size = 1                          # an empty object is never a good backup

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if value.startswith("s3://") or "/" in value:
            raise ValueError(f"{value!r}: write the bucket's name alone (flight-search-backups); the path "
                             "inside it goes in `prefix:`")
        if not _BUCKET.match(value):
            raise ValueError(f"{value!r} is not an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')")
        return value

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def label(self) -> str:
        return f"newest object in {self.url}"


class SecretAgeCheck(_Aging):
    """A Secrets Manager secret was rotated (else changed, else created) less than `max_age` ago; with
    `expect_rotation`, its automatic rotation is on."""

    check: Literal["secret_age"]
    secret_id: str = Field(min_length=1, max_length=2048)     # the secret's name or ARN
    expect_rotation: bool = False

    @property
    def label(self) -> str:
        return f"age of secret {self.secret_id}"


class KmsKeyCheck(Strict):
    """A KMS key is enabled; with `round_trip`, a small random payload encrypts and decrypts with it; with
    `expect_rotation`, its automatic key rotation is on."""

    check: Literal["kms_key"]
    key_id: str = Field(min_length=1, max_length=2048)        # key id, key ARN, alias/<name> or alias ARN
    round_trip: bool = False
    expect_rotation: bool = False

    @property
    def label(self) -> str:
        return f"KMS key {self.key_id}"
