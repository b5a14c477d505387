"""A Lambda function: its state and its rollback.

Behind an alias (`LambdaAlias`), rollback points the alias at an earlier published version. Without one
(`LambdaFunction`: callers invoke $LATEST), rollback redeploys an earlier published version's code to $LATEST
and publishes that as a new version ("published 8 = code of 5"); the function's configuration stays as it is.
"""
from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot.clock import humanize
from bot.config import services as cfgs
from integrations.aws import AwsClients
from integrations.aws.errors import translated
from integrations.base import (
    AdapterError,
    Finding,
    Health,
    NotPossibleError,
    Outcome,
    Progress,
    RollbackPlan,
    TargetNotFoundError,
    UnreachableError,
)
from integrations.polling import Poller

if TYPE_CHECKING:
    import httpx

MAX_ZIP = 50 * 1024 * 1024          # UpdateFunctionCode takes a .zip of at most 50 MB inline (ZipFile)
DOWNLOAD_TIMEOUT_S = 120.0


class LambdaAlias:
    """StatusSource + RollbackTarget for `function:alias`."""

    def __init__(self, cfg: cfgs.LambdaAliasConfig, clients: AwsClients) -> None:
        assert cfg.alias is not None                 # the factory makes a LambdaFunction for a function without
        self.cfg, self.clients, self.alias = cfg, clients, cfg.alias
        self.subject = f"lambda {cfg.function}:{cfg.alias}"

    @property
    def timeout_s(self) -> float:
        return 2 * self.clients.timeout_s          # two calls: the alias, then its version's configuration

    def _client(self) -> Any:
        return self.clients.client("lambda")

    def _alias(self) -> dict[str, Any]:
        with translated(self.subject):
            return dict(self._client().get_alias(FunctionName=self.cfg.function, Name=self.alias))

    def check(self) -> Sequence[Finding]:
        alias = self._alias()
        version = str(alias["FunctionVersion"])
        with translated(self.subject):
            conf = self._client().get_function_configuration(FunctionName=self.cfg.function, Qualifier=version)
        state, update = conf.get("State", "Active"), conf.get("LastUpdateStatus", "Successful")
        where = f"version {version}{_canary(alias)}"
        if "Failed" in (state, update):
            reason = conf.get("StateReason") or conf.get("LastUpdateStatusReason") or "no reason given"
            return [Finding("lambda", self.subject, Health.DOWN, f"{where} {state}/{update}: {reason}")]
        health = Health.OK if (state, update) == ("Active", "Successful") else Health.DEGRADED
        summary = f"{where}, {state.lower()}" + ("" if update == "Successful" else f", update {update}")
        return [Finding("lambda", self.subject, health, summary)]

    def _published(self) -> list[int]:
        """Published version numbers, ascending ($LATEST is not published)."""
        with translated(self.subject):
            pages = self._client().get_paginator("list_versions_by_function").paginate(FunctionName=self.cfg.function)
            found = [str(v["Version"]) for page in pages for v in page["Versions"]]
        return sorted(int(v) for v in found if v.isdigit())

    def plan_rollback(self, *, to: str | None = None) -> RollbackPlan:
        alias = self._alias()
        current, published = str(alias["FunctionVersion"]), self._published()
        target = self._named(to, current, published) if to is not None else self._previous(current, published)
        return RollbackPlan(target=self.subject, current=f"alias {self.alias} -> version {current}{_canary(alias)}",
                            desired=f"alias {self.alias} -> version {target}", from_ref=current, to_ref=str(target))

    def _named(self, to: str, current: str, published: list[int]) -> int:
        wanted = to.strip().removeprefix("v")
        if not wanted.isdigit() or int(wanted) not in published:
            known = ", ".join(map(str, published[-10:])) or "none"
            raise TargetNotFoundError(f"{self.subject}: no published version {to[:20]} (latest published: {known})")
        if wanted == current:
            raise NotPossibleError(f"{self.subject} already points at version {current}")
        return int(wanted)

    def _previous(self, current: str, published: list[int]) -> int:
        if not current.isdigit():
            raise NotPossibleError(f"{self.subject} points at {current}, not a published version: "
                                   "name the version to roll back to")
        earlier = [v for v in published if v < int(current)]
        if not earlier:
            raise NotPossibleError(f"{self.subject}: no published version before {current} to roll back to")
        return earlier[-1]

    def rollback(self, plan: RollbackPlan, *, progress: Progress) -> Outcome:
        alias = self._alias()
        now, wanted = str(alias["FunctionVersion"]), plan.to_ref
        if now != plan.from_ref:
            return Outcome(False, f"{self.subject} moved to version {now} since the plan; nothing was done")
        # RevisionId: AWS refuses the update if anyone changed the alias since we read it just now.
        same = {"RevisionId": alias["RevisionId"]} if alias.get("RevisionId") else {}
        with translated(self.subject):
            self._client().update_alias(FunctionName=self.cfg.function, Name=self.alias, FunctionVersion=wanted,
                                        RoutingConfig={"AdditionalVersionWeights": {}}, **same)
        after = str(self._alias()["FunctionVersion"])
        if after != wanted:
            return Outcome(False, f"alias {self.alias} still points at version {after} after the update")
        progress(f"Alias {self.alias} of {self.cfg.function} now points at version {after}.")
        return Outcome(True, f"alias {self.alias} now points at version {after}",
                       {"function": self.cfg.function, "alias": self.alias, "version": after})


def _canary(alias: dict[str, Any]) -> str:
    """' (+10% to version 4)' while the alias splits traffic, else ''."""
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return "".join(f" (+{weight:.0%} to version {version})" for version, weight in weights.items())


class LambdaFunction:
    """StatusSource + RollbackTarget for a function without an alias: its callers invoke $LATEST."""

    def __init__(self, cfg: cfgs.LambdaAliasConfig, clients: AwsClients, *, http: Callable[[], httpx.Client],
                 poll_interval_s: float = 10.0, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cfg, self.clients, self.http = cfg, clients, http
        self.poller = Poller(interval_s=poll_interval_s, sleep=sleep, monotonic=monotonic)
        self.subject = f"lambda {cfg.function}"

    @property
    def timeout_s(self) -> float:
        return 2 * self.clients.timeout_s          # two calls: $LATEST's configuration, then the published versions

    def _client(self) -> Any:
        return self.clients.client("lambda")

    def _latest(self) -> dict[str, Any]:
        with translated(self.subject):
            return dict(self._client().get_function_configuration(FunctionName=self.cfg.function))

    def _published(self) -> dict[int, str]:
        """Published version -> its CodeSha256, oldest first ($LATEST is not published)."""
        with translated(self.subject):
            pages = self._client().get_paginator("list_versions_by_function").paginate(FunctionName=self.cfg.function)
            found = [(str(v["Version"]), str(v.get("CodeSha256", ""))) for page in pages for v in page["Versions"]]
        return dict(sorted((int(v), sha) for v, sha in found if v.isdigit()))

    def check(self) -> Sequence[Finding]:
        conf = self._latest()
        where = f"$LATEST = {_running(conf, self._published())}, modified {_modified(conf)}"
        state, update = conf.get("State", "Active"), conf.get("LastUpdateStatus", "Successful")
        if "Failed" in (state, update):
            reason = conf.get("StateReason") or conf.get("LastUpdateStatusReason") or "no reason given"
            return [Finding("lambda", self.subject, Health.DOWN, f"{where}, {state}/{update}: {reason}")]
        health = Health.OK if (state, update) == ("Active", "Successful") else Health.DEGRADED
        summary = f"{where}, {state.lower()}" + ("" if update == "Successful" else f", update {update}")
        return [Finding("lambda", self.subject, health, summary)]

    # --- rollback -------------------------------------------------------------------------------
    def plan_rollback(self, *, to: str | None = None) -> RollbackPlan:
        conf, published = self._latest(), self._published()
        sha = str(conf.get("CodeSha256", ""))
        target = self._named(to, sha, published) if to is not None else self._previous(sha, published)
        return RollbackPlan(target=f"{self.subject} ($LATEST, no alias)",
                            current=f"$LATEST = {_running(conf, published)}",
                            desired=f"code of version {target} on $LATEST, published as a new version",
                            from_ref=sha, to_ref=str(target))

    def _named(self, to: str, sha: str, published: dict[int, str]) -> int:
        wanted = to.strip().removeprefix("v")
        if not wanted.isdigit() or int(wanted) not in published:
            known = ", ".join(map(str, list(published)[-10:])) or "none"
            raise TargetNotFoundError(f"{self.subject}: no published version {to[:20]} (latest published: {known})")
        if published[int(wanted)] == sha:
            raise NotPossibleError(f"{self.subject}: $LATEST already runs the code of version {wanted}")
        return int(wanted)

    def _previous(self, sha: str, published: dict[int, str]) -> int:
        """The newest version older than the release $LATEST runs (the first version with its code), with other
        code; with unpublished code on $LATEST, the newest published version."""
        same = [v for v, code in published.items() if code == sha]
        earlier = [v for v, code in published.items() if code != sha and (not same or v < min(same))]
        if not earlier:
            since = f" before version {min(same)}" if same else ""
            raise NotPossibleError(f"{self.subject}: no published version{since} with other code to roll back to")
        return max(earlier)

    def rollback(self, plan: RollbackPlan, *, progress: Progress) -> Outcome:
        conf = self._latest()
        if str(conf.get("CodeSha256", "")) != plan.from_ref:
            return Outcome(False, f"the code of {self.subject} ($LATEST) changed since the plan; nothing was done")
        if conf.get("LastUpdateStatus") == "InProgress":
            return Outcome(False, f"{self.subject} is being updated right now; nothing was done")
        version = plan.to_ref
        with translated(self.subject):
            source = self._client().get_function(FunctionName=self.cfg.function, Qualifier=version)
        wanted, location = str(source["Configuration"].get("CodeSha256", "")), source.get("Code") or {}
        if location.get("ImageUri"):
            code: dict[str, Any] = {"ImageUri": location.get("ResolvedImageUri") or location["ImageUri"]}
        else:
            size = int(source["Configuration"].get("CodeSize") or 0)
            if size > MAX_ZIP:
                return Outcome(False, f"the code of version {version} is {size // 2**20} MB, more than the 50 MB "
                                      "Lambda takes directly; deploy it from S3. Nothing was changed")
            progress(f"Downloading the code of version {version} ({max(size // 1024, 1)} KB)…")
            body = self._download(str(location.get("Location", "")), version)
            if _sha256(body) != wanted:
                return Outcome(False, f"the downloaded code of version {version} does not match its checksum; "
                                      "nothing was changed")
            code = {"ZipFile": body}
        same = {"RevisionId": conf["RevisionId"]} if conf.get("RevisionId") else {}
        with translated(self.subject):
            self._client().update_function_code(FunctionName=self.cfg.function, Publish=False, **code, **same)
        progress(f"Uploaded the code of version {version} to $LATEST; waiting for the update to finish…")
        failed = self._wait_updated()
        if failed is not None:
            return Outcome(False, failed)
        with translated(self.subject):
            new = self._client().publish_version(FunctionName=self.cfg.function, CodeSha256=wanted,
                                                 Description=f"opsbot rollback: code of version {version}")
        published, published_sha = str(new["Version"]), str(new.get("CodeSha256", ""))
        if published_sha != wanted:
            return Outcome(False, f"published {published}, but its code is not that of version {version}; "
                                  "check the function")
        progress(f"Published version {published} = code of {version}.")
        return Outcome(True, f"published {published} = code of {version}; $LATEST runs it",
                       {"function": self.cfg.function, "published": published, "code_of": version})

    def _download(self, url: str, version: str) -> bytes:
        """The .zip behind a version's Code.Location (a presigned S3 URL: never shown, it carries credentials)."""
        import httpx

        what = f"{self.subject}: the code of version {version}"
        body = bytearray()
        try:
            timeout = httpx.Timeout(DOWNLOAD_TIMEOUT_S, connect=self.clients.timeout_s)
            with self.http().stream("GET", url, timeout=timeout) as response:
                if response.status_code != 200:
                    raise AdapterError(f"{what} could not be downloaded (HTTP {response.status_code})")
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_ZIP:
                        raise NotPossibleError(f"{what} is more than 50 MB; deploy it from S3")
        except httpx.HTTPError as exc:
            raise UnreachableError(f"{what} could not be downloaded ({type(exc).__name__})") from exc
        return bytes(body)

    def _wait_updated(self) -> str | None:
        """None once $LATEST's update succeeded; else why not."""
        last: dict[str, Any] = {}

        def settled() -> dict[str, Any] | None:
            nonlocal last
            last = self._latest()
            return None if last.get("LastUpdateStatus") == "InProgress" else last

        timeout = self.cfg.update_timeout
        final = self.poller.until(settled, timeout_s=timeout.total_seconds())
        if final is None:
            return f"{self.subject}: the code update was still in progress after {humanize(timeout)}; not published"
        if final.get("LastUpdateStatus", "Successful") != "Successful":
            reason = final.get("LastUpdateStatusReason") or "no reason given"
            return f"{self.subject}: the code update {final.get('LastUpdateStatus')}: {reason}; not published"
        return None


def _running(conf: dict[str, Any], published: dict[int, str]) -> str:
    """Which published release $LATEST's code is: 'version 8 (code of 5)', 'version 7', 'unpublished code'."""
    same = [v for v, code in published.items() if code == conf.get("CodeSha256")]
    if not same:
        return "unpublished code"
    return f"version {max(same)}" + (f" (code of {min(same)})" if min(same) != max(same) else "")


def _modified(conf: dict[str, Any]) -> str:
    """LastModified ('2026-11-23T09:00:12.345+0000', always UTC) as '2026-11-23 09:00 UTC'."""
    text = str(conf.get("LastModified", ""))
    return f"{text[:10]} {text[11:16]} UTC" if len(text) >= 16 and text[10] == "T" else (text or "unknown")


def _sha256(body: bytes) -> str:
    """CodeSha256 as Lambda reports it: the base64 of the SHA-256 of the .zip."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode()
