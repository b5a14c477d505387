"""`ops.yaml` -> OpsConfig: one validated, frozen description of channels, permissions and services.

Unknown keys and wrong types are errors that name the key path (`services[0].health.timeout`), so a
typo never silently turns a check off.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> Any:
    """Accept '3s', '500ms', '5m', '26h', '1d' (plain numbers are seconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"not a duration: {value!r} (use e.g. 3s, 5m, 26h, 1d)")
        number, unit = match.groups()
        return timedelta(seconds=float(number) * _UNIT_SECONDS[unit])
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
SERVICE_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Channels(Strict):
    default: str = "#oncall"
    alerts: str = "#alerts"


class Permissions(Strict):
    """Who may run what. A command not listed under `commands` is open to everyone in the channel."""

    admins: tuple[str, ...] = ()
    roles: dict[str, tuple[str, ...]] = {}
    commands: dict[str, tuple[str, ...]] = {}

    @model_validator(mode="after")
    def _roles_exist(self) -> Permissions:
        for command, roles in self.commands.items():
            unknown = sorted(set(roles) - set(self.roles))
            if unknown:
                raise ValueError(f"commands.{command} names undefined role(s): {', '.join(unknown)}")
        return self


class HealthCheck(Strict):
    url: HttpUrl
    expect_status: int = Field(200, ge=100, le=599)
    timeout: Duration = timedelta(seconds=3)

    @field_validator("timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0) or value > timedelta(minutes=1):
            raise ValueError("must be between 1ms and 60s")
        return value


class Service(Strict):
    name: str = Field(pattern=SERVICE_NAME)
    description: str | None = None
    health: HealthCheck | None = None


class OpsConfig(Strict):
    timezone: str = "UTC"
    channels: Channels = Channels()
    permissions: Permissions = Permissions()
    services: tuple[Service, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from None
        return value

    @field_validator("services")
    @classmethod
    def _unique_names(cls, value: tuple[Service, ...]) -> tuple[Service, ...]:
        seen: set[str] = set()
        for service in value:
            if service.name in seen:
                raise ValueError(f"service name {service.name!r} is used twice")
            seen.add(service.name)
        return value

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)


class ConfigError(Exception):
    """The config file cannot be used; `problems` are lines like `services[0].health.timeout: ...`."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(f"{path}: {p}" for p in self.problems))


def _key_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def parse_config(raw: Any, *, path: Path = Path("<config>")) -> OpsConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(path, ["(top level): expected a mapping of keys, got " + type(raw).__name__])
    try:
        return OpsConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, [f"{_key_path(e['loc'])}: {_message(e['msg'])}" for e in exc.errors()]) from None


def load_config(path: Path) -> OpsConfig:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, ["file not found (set OPSBOT_CONFIG or pass --config)"]) from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(path, [str(exc).replace("\n", " ")]) from exc
    return parse_config(raw, path=path)
