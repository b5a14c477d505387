"""Where the bot talks and who may do what: channels and permissions."""
from __future__ import annotations

from pydantic import model_validator

from bot.config.values import Strict


class Channels(Strict):
    default: str = "#oncall"                     # checklists, reports and anything without its own channel
    alerts: str = "#alerts"                      # alert cards that no route sends elsewhere


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
