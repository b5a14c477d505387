"""Secrets the config names: `{secret: ENV_VAR}` (an environment variable) or `{file: /run/secrets/x}`.

The YAML never holds a secret's value, only where to find it. A value is read when it is used (a rotated file
or a restarted pod's new environment is picked up), never logged, echoed or put on a command line; whatever
shows text that may contain it masks it (`bot.masking`). `str()` of a reference names where it comes from,
never what it is.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from bot.config.values import Strict

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class SecretMissing(Exception):
    """The secret is not set where the config says; str() names where (never a value)."""


class SecretRef(Strict):
    secret: str | None = Field(None, pattern=ENV_NAME)      # the environment variable holding the value
    file: Path | None = None                                 # a file holding the value (trailing newline dropped)

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.secret is None) == (self.file is None):
            raise ValueError("name exactly one of `secret: ENV_VAR` or `file: /path`")
        return self

    def __str__(self) -> str:
        return f"environment variable {self.secret}" if self.secret else f"file {self.file}"

    def reveal(self, environ: Mapping[str, str] | None = None) -> str:
        """The value now; SecretMissing when it is unset, empty or unreadable."""
        if self.secret is not None:
            value = (os.environ if environ is None else environ).get(self.secret, "")
        else:
            assert self.file is not None
            try:
                value = self.file.read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                raise SecretMissing(f"the secret in {self} can't be read ({type(exc).__name__})") from None
        if not value:
            raise SecretMissing(f"the secret in {self} is not set")
        return value


def configured_values(config: BaseModel, environ: Mapping[str, str] | None = None) -> list[str]:
    """The value of every secret `config` names anywhere (those set now): what a `bot.masking.Masker` hides.
    A secret that is not set is skipped here; whatever uses it reports that."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, SecretRef):
            try:
                found.append(value.reveal(environ))
            except SecretMissing:
                pass
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, (tuple, list)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(config)
    return found
