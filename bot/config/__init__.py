"""The bot's configuration, `ops.yaml`, as one validated frozen `OpsConfig`.

Sections live in their own modules (`services`, `alerts`, `checklists`, `access`, `operations`; value types
in `values`); import a section's models from its module. This package exports only what loading needs.
Every key is described in docs/configuration.md (a test keeps the two in step).
"""
from bot.config.ops import ConfigError, OpsConfig, load_config, parse_config
from bot.config.values import parse_duration

__all__ = ["ConfigError", "OpsConfig", "load_config", "parse_config", "parse_duration"]
