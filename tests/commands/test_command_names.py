"""bot.config may not import commands/ (import-linter), so it writes the restrictable command names down;
this keeps that list equal to the real command table."""
from bot.config.access import COMMAND_NAMES, DEFERRED
from commands import SUBCOMMANDS


def test_config_knows_every_command_whose_permission_it_sets():
    assert COMMAND_NAMES == tuple(c.name for c in SUBCOMMANDS if c.name not in DEFERRED)


def test_the_commands_config_may_not_restrict_are_checked_as_the_command_they_confirm():
    deferred = {c.name: c for c in SUBCOMMANDS if c.name in DEFERRED}
    assert set(deferred) == set(DEFERRED)
    assert all(c.deferred_permission and c.hidden for c in deferred.values())
