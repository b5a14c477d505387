"""Where postmortems are kept besides Slack: a directory (written atomically) and, built on first use so boto3
loads only when needed, an S3 bucket (integrations.aws.s3)."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from integrations.base import AdapterError, DocumentStore


class DirectoryStore:
    """Writes each document as a file in one directory (made if missing). A reader never sees half a file: the
    text goes to a temporary file in the same directory first, which then replaces the old one."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def put(self, name: str, content: str) -> str:
        path = self.directory / name
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=self.directory)
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    out.write(content)
                os.chmod(temporary, 0o644)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise AdapterError(f"the postmortem directory {self.directory}: could not write {name} ({why})") from exc
        return str(path)


class DeferredStore(DocumentStore):
    """A store built on its first use (the S3 one: boto3 is imported then)."""

    def __init__(self, get: Callable[[], DocumentStore]) -> None:
        self._get = get

    def put(self, name: str, content: str) -> str:
        return self._get().put(name, content)
