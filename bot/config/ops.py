"""`ops.yaml` -> OpsConfig: one validated, frozen description of the whole bot.

Unknown keys and wrong types are errors that name the key path (`services[0].health.timeout`), so a
typo never silently turns a check off.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError, model_validator

from bot.config.access import Channels, Permissions
from bot.config.actions import ActionConfig, ActionUse, validate_action_uses
from bot.config.alerts import AlertSettings, Oncall, validate_notify_targets
from bot.config.checklists import Checklist, Report, SchedulerSettings, validate_checklist_targets
from bot.config.heartbeats import HeartbeatConfig, validate_heartbeats
from bot.config.incidents import IncidentSettings, validate_invite_targets
from bot.config.maintenance import ScheduledWindow, validate_window_services
from bot.config.operations import OperationSettings
from bot.config.queues import QueueConfig
from bot.config.services import Database, IntegrationSettings, Service
from bot.config.values import Problems, Strict, Zone


class OpsConfig(Strict):
    timezone: Zone = "UTC"
    channels: Channels = Channels()
    permissions: Permissions = Permissions()
    integrations: IntegrationSettings = IntegrationSettings()
    alerts: AlertSettings = AlertSettings()
    oncall: Oncall = Oncall()
    incidents: IncidentSettings = IncidentSettings()
    operations: OperationSettings = OperationSettings()
    checklists: dict[str, Checklist] = {}
    reports: dict[str, Report] = {}
    scheduler: SchedulerSettings = SchedulerSettings()
    services: tuple[Service, ...] = ()
    databases: tuple[Database, ...] = ()
    queues: tuple[QueueConfig, ...] = ()
    actions: tuple[ActionConfig, ...] = ()
    heartbeats: tuple[HeartbeatConfig, ...] = ()
    maintenance: tuple[ScheduledWindow, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> OpsConfig:
        """What one section names must exist in another; every problem is reported, each at its key path."""
        problems = self._unique_names()
        if self.needs_kubernetes and self.integrations.kubernetes is None:
            problems.append(("integrations.kubernetes", "a service or database uses kubernetes: add "
                             "`integrations: {kubernetes: {...}}`"))
        if self.needs_aws and self.integrations.aws is None:
            problems.append(("integrations.aws", "a service, database or queue uses AWS: add "
                             "`integrations: {aws: {...}}` (may be empty)"))
        if self.incidents.postmortems.s3 is not None and self.integrations.aws is None:
            problems.append(("incidents.postmortems.s3", "writing postmortems to S3 needs AWS access: add "
                             "`integrations: {aws: {...}}` (may be empty)"))
        problems += _found(partial(validate_checklist_targets, self.checklists, self.reports,
                                   integrations=self.integrations, service=self.service, database=self.database))
        problems += _found(partial(validate_notify_targets, self.alerts.escalation, self.oncall))
        problems += _found(partial(validate_heartbeats, self.heartbeats, self.checklists, service=self.service,
                                   webhook_token_env=self.alerts.webhook.token_env))
        problems += _found(partial(validate_invite_targets, self.incidents, self.oncall))
        problems += self._approvals_possible()
        problems += _found(partial(validate_window_services, self.maintenance, tuple(s.name for s in self.services)))
        problems += _found(partial(validate_action_uses, self.actions, self._action_uses(),
                                   role_names=self.permissions.roles))
        if problems:
            raise Problems(problems)
        return self

    def _unique_names(self) -> list[tuple[str, str]]:
        seen: set[str] = set()
        problems = []
        items: list[tuple[str, Service | Database | QueueConfig]] = [
            *((f"services[{i}].name", s) for i, s in enumerate(self.services)),
            *((f"databases[{i}].name", d) for i, d in enumerate(self.databases)),
            *((f"queues[{i}].name", q) for i, q in enumerate(self.queues))]
        for where, item in items:
            if item.name in seen:
                problems.append((where, f"the name {item.name!r} is used twice (services, databases and queues "
                                        "share names)"))
            seen.add(item.name)
        return problems

    def _approvals_possible(self) -> list[tuple[str, str]]:
        """`approvals: 2` on a target fewer than two people may confirm would never run."""
        problems = []
        items: list[tuple[str, Service | Database, tuple[str, ...]]] = [
            *((f"services[{i}].approvals", s, _operations(s)) for i, s in enumerate(self.services)),
            *((f"databases[{i}].approvals", d, _operations(d)) for i, d in enumerate(self.databases))]
        for where, item, kinds in items:
            for kind in kinds if item.approvals > 1 else ():
                people = self.permissions.who_may(kind)
                if people is not None and len(people) < item.approvals:
                    problems.append((where, f"{item.approvals} different people must confirm a {kind} of "
                                     f"{item.name!r}, but only {len(people)} may (permissions.commands.{kind} "
                                     "and admins)"))
        return problems

    def _action_uses(self) -> Iterator[tuple[str, ActionUse]]:
        """Every service or database mechanism that is a named action, with its key path."""
        for i, s in enumerate(self.services):
            if s.rollback is not None:
                yield f"services[{i}].rollback", s.rollback
            if s.restart is not None:
                yield f"services[{i}].restart", s.restart
        for i, d in enumerate(self.databases):
            if d.backup is not None:
                yield f"databases[{i}].backup", d.backup

    @property
    def needs_aws(self) -> bool:
        return any(s.uses_aws for s in self.services) or any(d.rds for d in self.databases) or bool(self.queues)

    @property
    def needs_kubernetes(self) -> bool:
        return any(s.kubernetes for s in self.services) or any(d.kubernetes_cronjob for d in self.databases)

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def database(self, name: str) -> Database | None:
        return next((d for d in self.databases if d.name == name), None)

    def action(self, name: str) -> ActionConfig | None:
        return next((a for a in self.actions if a.name == name), None)

    def heartbeat(self, name: str) -> HeartbeatConfig | None:
        return next((h for h in self.heartbeats if h.name == name), None)


def _operations(item: Service | Database) -> tuple[str, ...]:
    """The confirmed operations a service or database has a mechanism for."""
    if isinstance(item, Database):
        return ("backup",) if item.rds or item.kubernetes_cronjob or item.backup else ()
    rollback = item.kubernetes or item.lambda_ or item.beanstalk or item.cloudformation or item.rollback
    restart = item.kubernetes or item.beanstalk or item.restart
    return (("rollback",) * bool(rollback) + ("scale",) * bool(item.kubernetes) + ("restart",) * bool(restart)
            + ("redrive",) * bool(item.sqs_dlq))


def _found(check: Callable[[], None]) -> list[tuple[str, str]]:
    try:
        check()
    except Problems as found:
        return found.items
    return []


class ConfigError(Exception):
    """The config file cannot be used; `problems` are lines like `services[0].health.timeout: ...`."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(f"{path}: {p}" for p in self.problems))


def _key_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":                     # pydantic's marker for "the key itself", already in the path
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problems(error: Any) -> list[str]:
    """One line per problem, `key.path: message`; a section's own Problems extend the path they were found at."""
    where = _key_path(error["loc"])
    found = error.get("ctx", {}).get("error")
    if isinstance(found, Problems):
        return [f"{_join(where, path)}: {message}" for path, message in found.items]
    return [f"{where or '(top level)'}: {error['msg'].removeprefix('Value error, ')}"]


def _join(where: str, path: str) -> str:
    if not where:
        return path
    return where + path if path.startswith("[") else f"{where}.{path}"


def parse_config(raw: Any, *, path: Path = Path("<config>")) -> OpsConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(path, ["(top level): expected a mapping of keys, got " + type(raw).__name__])
    try:
        return OpsConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, [line for e in exc.errors() for line in _problems(e)]) from None


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, except that dates and times stay strings: the models parse them, so a bad one
    (`2026-02-30`, which PyYAML itself would fail on with a bare ValueError) is reported at its key path; and a
    key written twice in one mapping is an error, not the second one silently replacing the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"line {key_node.start_mark.line + 1}: the key {key!r} is written twice (first on "
                    f"line {first}); the second would silently replace the first: merge them")
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def load_config(path: Path) -> OpsConfig:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)   # a SafeLoader
    except FileNotFoundError:
        raise ConfigError(path, ["file not found (set OPSBOT_CONFIG or pass --config)"]) from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(path, [str(exc).replace("\n", " ")]) from exc
    return parse_config(raw, path=path)
