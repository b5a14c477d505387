"""Where the bot talks and who may do what: channels and permissions."""
from __future__ import annotations

from pydantic import model_validator

from bot.config.values import Problems, Strict, UserId, choices

# The /ops subcommands whose permission `permissions.commands` sets, in `/ops help` order. `confirm` and
# `cancel` are not among them: they are checked as the command they confirm. bot.config may not import
# commands/, so the names are written here; tests/commands/test_command_names.py keeps them equal to
# commands.SUBCOMMANDS.
COMMAND_NAMES = ("help", "status", "logs", "incident", "ack", "alert", "oncall", "rollback", "backup", "scale",
                 "restart", "dlq", "run", "checklist", "report",
                 "maintenance")
DEFERRED = ("confirm", "cancel")
# Operations whose Confirm has its own entry though they are a verb of another command: `/ops dlq <queue>
# redrive` needs `dlq` to ask, and `redrive` to confirm.
OPERATIONS = ("redrive",)


class Channels(Strict):
    default: str = "#oncall"                     # checklists, reports and anything without its own channel
    alerts: str = "#alerts"                      # alert cards that no route sends elsewhere


Members = tuple[UserId, ...]


class Permissions(Strict):
    """Who may run what. A command not listed under `commands` is open to everyone in the channel; one
    listed with no roles (`rollback: []`) is for admins only."""

    admins: tuple[UserId, ...] = ()
    roles: dict[str, Members] = {}
    commands: dict[str, tuple[str, ...]] = {}

    def who_may(self, command: str) -> frozenset[str] | None:
        """Everyone who may run `command` (admins and its roles' members), or None when it is open to all."""
        roles = self.commands.get(command)
        if roles is None:
            return None
        return frozenset(self.admins).union(*(self.roles.get(role, ()) for role in roles))

    @model_validator(mode="after")
    def _names_exist(self) -> Permissions:
        """A misspelt command would protect nothing, and an unknown or empty role would let nobody in."""
        problems = [(f"roles.{role}", "a role needs at least one member (Slack user ID); to keep a command "
                     "for admins only, list it with no roles: `commands: {rollback: []}`")
                    for role, members in self.roles.items() if not members]
        for command, roles in self.commands.items():
            if command in DEFERRED:
                problems.append((f"commands.{command}", f"`{command}` is checked as the command it confirms, so "
                                 "this would restrict nothing; restrict rollback, backup, scale or restart instead"))
            elif command not in COMMAND_NAMES + OPERATIONS:
                problems.append((f"commands.{command}", "not an /ops command, so this would restrict nothing; "
                                 f"{choices(COMMAND_NAMES + OPERATIONS, command)}"))
            for role in dict.fromkeys(roles):
                if role not in self.roles:
                    problems.append((f"commands.{command}", f"names the undefined role {role!r}; "
                                     f"{choices(self.roles, role)} (define it under permissions.roles)"))
        if problems:
            raise Problems(problems)
        return self
