"""Settings that come from the environment (never from the YAML file): Slack credentials and URLs, the database."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///opsbot.db"
DEFAULT_CONFIG_PATH = "ops.yaml"


class SettingsError(Exception):
    """A required environment variable is missing; str() is the one line to print."""


@dataclass(frozen=True, slots=True)
class Settings:
    slack_bot_token: SecretStr | None
    slack_signing_secret: SecretStr | None
    slack_app_token: SecretStr | None
    slack_api_url: str
    database_url: str
    config_path: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        def secret(name: str) -> SecretStr | None:
            value = environ.get(name, "").strip()
            return SecretStr(value) if value else None

        return cls(
            slack_bot_token=secret("SLACK_BOT_TOKEN"),
            slack_signing_secret=secret("SLACK_SIGNING_SECRET"),
            slack_app_token=secret("SLACK_APP_TOKEN"),
            slack_api_url=environ.get("SLACK_API_URL") or DEFAULT_SLACK_API_URL,
            database_url=environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            config_path=Path(environ.get("OPSBOT_CONFIG") or DEFAULT_CONFIG_PATH),
        )

    def require(self, *names: str) -> None:
        """Raise SettingsError naming every missing variable among `names` (attribute names, upper-cased)."""
        missing = [name.upper() for name in names if getattr(self, name) is None]
        if missing:
            raise SettingsError(f"missing environment variable(s): {', '.join(missing)}")
