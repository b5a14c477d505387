"""Secrets Manager: how long ago a secret was rotated (a checklist's `secret_age`). Only DescribeSecret is
called: the secret's value is never read."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.clock import Clock, humanize
from bot.config.aws_checks import SecretAgeCheck
from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import Finding, Health

# The date a secret's age counts from, best first: rotation, else any change (a new value put by hand, but also
# a description or tag edit), else creation.
SINCE = (("LastRotatedDate", "last rotated"), ("LastChangedDate", "last changed (never rotated)"),
         ("CreatedDate", "created (never rotated or changed)"))

DETAILS = (("LastRotatedDate", "last_rotated"), ("LastChangedDate", "last_changed"),
           ("NextRotationDate", "next_rotation"))


class SecretAge:
    """StatusSource: older than `max_age` is down, older than `warn_age` degraded; a secret scheduled for
    deletion is down; with `expect_rotation`, automatic rotation being off is degraded."""

    def __init__(self, cfg: SecretAgeCheck, clients: AwsClients, *, clock: Clock) -> None:
        self.cfg, self.clients, self.clock = cfg, clients, clock
        self.subject = f"secret {cfg.secret_id}"

    @property
    def timeout_s(self) -> float:
        return self.clients.timeout_s

    def check(self) -> Sequence[Finding]:
        cfg = self.cfg
        with translated(self.subject):
            secret: dict[str, Any] = self.clients.client("secretsmanager").describe_secret(SecretId=cfg.secret_id)
        details = {name: _day(secret[key]) for key, name in DETAILS if secret.get(key)}
        if secret.get("DeletedDate"):
            return [Finding("secretsmanager", self.subject, Health.DOWN,
                            f"scheduled for deletion on {_day(secret['DeletedDate'])}", details=details)]
        since, how = next(((secret[key], how) for key, how in SINCE if secret.get(key)), (None, "never dated"))
        if since is None:
            return [Finding("secretsmanager", self.subject, Health.DEGRADED,
                            "Secrets Manager reports no rotation, change or creation date")]
        age = self.clock() - since
        text = f"{how} {humanize(age)} ago"
        rotation_off = cfg.expect_rotation and not secret.get("RotationEnabled")
        off = "; automatic rotation is off" if rotation_off else ""
        if age > cfg.max_age:
            return [Finding("secretsmanager", self.subject, Health.DOWN,
                            f"{text} (max {humanize(cfg.max_age)}){off}", details=details)]
        if age > cfg.warn_after:
            return [Finding("secretsmanager", self.subject, Health.DEGRADED,
                            f"{text}: older than {humanize(cfg.warn_after)} (max {humanize(cfg.max_age)}){off}",
                            details=details)]
        if rotation_off:
            return [Finding("secretsmanager", self.subject, Health.DEGRADED,
                            f"{text}, but automatic rotation is off", details=details)]
        return [Finding("secretsmanager", self.subject, Health.OK, text, details=details)]


def _day(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
