"""Who may run which subcommand, from config `permissions` (admins, roles, commands -> roles)."""
from __future__ import annotations

from bot.config.access import Permissions
from bot.errors import NotAllowedError


def allowed_roles(perms: Permissions, command: str) -> tuple[str, ...] | None:
    """The roles that may run `command`, or None when it is open to everyone."""
    return perms.commands.get(command)


def may_run(perms: Permissions, user_id: str, command: str) -> bool:
    return has_role(perms, user_id, allowed_roles(perms, command))


def has_role(perms: Permissions, user_id: str, roles: tuple[str, ...] | None) -> bool:
    """Whether `user_id` is an admin or in one of `roles` (None: open to everyone)."""
    if roles is None or user_id in perms.admins:
        return True
    return any(user_id in perms.roles.get(role, ()) for role in roles)


def check_action(perms: Permissions, user_id: str, action: str, roles: tuple[str, ...] | None, *,
                 doing: str) -> None:
    """Raise NotAllowedError when `user_id` lacks the roles a named action lists (config `actions[].roles`)."""
    if has_role(perms, user_id, roles):
        return
    names = " or ".join(f"`{r}`" for r in roles or ())
    raise NotAllowedError(f"{doing} needs the role {names} (or admin), which the action `{action}` asks for; "
                          "nothing was run. Ask someone with that role, or an admin to add you in ops.yaml.")


def check(perms: Permissions, user_id: str, command: str, *, doing: str | None = None) -> None:
    """Raise NotAllowedError naming the roles that may run `command` when `user_id` may not.

    `doing` phrases the refused act ("Confirming this rollback"); the default is the command itself.
    """
    if may_run(perms, user_id, command):
        return
    roles = allowed_roles(perms, command) or ()
    names = " or ".join(f"`{r}`" for r in roles)
    what = doing or f"`/ops {command}`"
    raise NotAllowedError(f"{what} needs the role {names} (or admin); nothing was changed. "
                          "Ask someone with that role, or an admin to add you in ops.yaml.")
