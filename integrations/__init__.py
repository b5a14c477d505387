"""Adapters to the systems we operate. `build_integrations()` is the one place that maps config to adapters."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.config import OpsConfig
from integrations.base import BackupTarget, RollbackTarget, ScaleTarget, StatusSource
from integrations.http import HttpHealth, make_client


@dataclass(frozen=True, slots=True)
class Integrations:
    """Every adapter, by service name. Commands look targets up here; they never build clients."""

    status_sources: Mapping[str, tuple[StatusSource, ...]] = field(default_factory=dict)
    rollback_targets: Mapping[str, RollbackTarget] = field(default_factory=dict)
    backup_targets: Mapping[str, BackupTarget] = field(default_factory=dict)
    scale_targets: Mapping[str, ScaleTarget] = field(default_factory=dict)


def build_integrations(config: OpsConfig) -> Integrations:
    http_client = make_client()
    sources: dict[str, tuple[StatusSource, ...]] = {}
    for service in config.services:
        found: list[StatusSource] = []
        if service.health is not None:
            found.append(HttpHealth(service.health, http_client))
        sources[service.name] = tuple(found)
    return Integrations(status_sources=sources)
