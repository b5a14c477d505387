"""KMS: a key is usable (a checklist's `kms_key`): enabled, optionally able to encrypt and decrypt a small random
payload with the bot's credentials, optionally rotating automatically."""
from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from bot.clock import Clock, humanize
from bot.config.aws_checks import KmsKeyCheck
from integrations.aws import AwsClients
from integrations.aws.errors import code_of, from_client_error, status_of, translated
from integrations.base import AccessDeniedError, Finding, Health

PAYLOAD_BYTES = 32
CONTEXT = {"purpose": "opsbot kms_key check"}       # encryption context: the ciphertext is useless for anything else
# KeyState -> what it means for whoever uses the key. Enabled is fine; these are not.
UNUSABLE = {"Disabled": "disabled: every encrypt and decrypt with it fails",
            "PendingImport": "has no key material yet (pending import): encrypt and decrypt fail",
            "Unavailable": "unavailable: its custom key store is disconnected",
            "PendingReplicaDeletion": "pending deletion (a multi-Region replica)"}
CHANGING = {"Creating", "Updating"}
# Errors from Encrypt/Decrypt that mean the key cannot be used, as opposed to KMS not answering.
# (Access denied is any error `errors.from_client_error` calls so.)
ROUND_TRIP_FAILS = {"DisabledException": "the key is disabled",
                    "KMSInvalidStateException": "the key is in a state that does not allow it",
                    "KeyUnavailableException": "the key is unavailable",
                    "InvalidCiphertextException": "the ciphertext was refused",
                    "IncorrectKeyException": "another key was used"}


class KmsKey:
    """StatusSource: a key that is not enabled (disabled, pending deletion, no key material, unavailable) or fails
    the round trip is down; one being created or updated, or with rotation off when `expect_rotation`, degraded."""

    def __init__(self, cfg: KmsKeyCheck, clients: AwsClients, *, clock: Clock) -> None:
        self.cfg, self.clients, self.clock = cfg, clients, clock
        self.subject = f"KMS key {cfg.key_id}"

    @property
    def timeout_s(self) -> float:
        return (1 + 2 * self.cfg.round_trip + self.cfg.expect_rotation) * self.clients.timeout_s

    def check(self) -> Sequence[Finding]:
        with translated(self.subject):
            meta: dict[str, Any] = self.clients.client("kms").describe_key(KeyId=self.cfg.key_id)["KeyMetadata"]
        state = str(meta.get("KeyState", ""))
        details = {"key": str(meta.get("KeyId", "")), "state": state}
        if state == "PendingDeletion":
            deletion = self._deletion(meta.get("DeletionDate"))
            return [Finding("kms", self.subject, Health.DOWN, deletion, details=details)]
        if state in UNUSABLE:
            return [Finding("kms", self.subject, Health.DOWN, UNUSABLE[state], details=details)]
        if state != "Enabled":
            word = state.lower() if state in CHANGING else f"in state {state}"
            return [Finding("kms", self.subject, Health.DEGRADED, f"{word}, not enabled yet", details=details)]
        said: list[tuple[Health, str]] = [(Health.OK, "enabled")]
        if self.cfg.round_trip:
            said.append(self._round_trip(meta))
        if self.cfg.expect_rotation:
            said.append(self._rotation(meta))
        health = max((h for h, _ in said), key=lambda h: h.rank)
        return [Finding("kms", self.subject, health, "; ".join(text for _, text in said), details=details)]

    def _deletion(self, when: datetime | None) -> str:
        if when is None:
            return "pending deletion"
        left = when - self.clock()
        return f"pending deletion: deleted on {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC (in {humanize(left)}) " \
               "unless someone cancels it"

    def _round_trip(self, meta: dict[str, Any]) -> tuple[Health, str]:
        spec, usage = meta.get("KeySpec", "SYMMETRIC_DEFAULT"), meta.get("KeyUsage", "ENCRYPT_DECRYPT")
        if spec != "SYMMETRIC_DEFAULT" or usage != "ENCRYPT_DECRYPT":
            return Health.DEGRADED, f"no round trip: that needs a symmetric encryption key, this is {spec} for {usage}"
        key, payload = str(meta["KeyId"]), os.urandom(PAYLOAD_BYTES)
        client, step = self.clients.client("kms"), "encrypt"
        with translated(self.subject):
            try:
                blob = client.encrypt(KeyId=key, Plaintext=payload, EncryptionContext=CONTEXT)["CiphertextBlob"]
                step = "decrypt"
                back = client.decrypt(KeyId=key, CiphertextBlob=blob, EncryptionContext=CONTEXT)["Plaintext"]
            except ClientError as exc:
                error, code = from_client_error(f"{self.subject} ({step})", exc), code_of(exc)
                shown = code if code and not code.isdigit() else f"HTTP {status_of(exc)}"
                if isinstance(error, AccessDeniedError):
                    return Health.DOWN, f"{step} failed: access denied: the bot's credentials may not use this key " \
                                        f"({shown})"
                if code in ROUND_TRIP_FAILS:
                    return Health.DOWN, f"{step} failed: {ROUND_TRIP_FAILS[code]} ({code})"
                raise error from exc
        if back != payload:
            return Health.DOWN, "decrypt gave back other bytes than were encrypted"
        return Health.OK, "encrypt/decrypt round trip ok"

    def _rotation(self, meta: dict[str, Any]) -> tuple[Health, str]:
        if meta.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
            return Health.DEGRADED, "expect_rotation: KMS rotates only symmetric encryption keys automatically"
        with translated(self.subject):
            on = self.clients.client("kms").get_key_rotation_status(KeyId=str(meta["KeyId"]))["KeyRotationEnabled"]
        return (Health.OK, "automatic rotation on") if on else (Health.DEGRADED, "automatic rotation is off")

