"""The one place that maps config to adapters: grep for a config key here to find the class that serves it,
or in integrations.check_factory for a checklist check kind (`check: …`).

SDK-backed adapters are built on first use (integrations.deferred) by the makers in integrations.builder: a bot
loads boto3 or the kubernetes client only when it first asks AWS or Kubernetes something, and a config that
names neither never loads them (tests/test_lazy_imports.py checks both; bench/idle_rss.py shows what it saves).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from bot.clock import Clock, utcnow
from bot.config import OpsConfig
from bot.config.queues import REDRIVE_TIMEOUT
from bot.config.services import Database, Service
from integrations import builder as make
from integrations.actions import ActionBackup, ActionRestart, ActionRollback, NamedAction
from integrations.base import (
    NODES,
    ActionTarget,
    BackupTarget,
    DocumentStore,
    Integrations,
    LogSource,
    RedriveTarget,
    RestartTarget,
    RollbackTarget,
    ScaleTarget,
    StatusSource,
)
from integrations.builder import Builder
from integrations.check_factory import check_sources
from integrations.deferred import (
    DeferredBackup,
    DeferredLogs,
    DeferredRedrive,
    DeferredRestart,
    DeferredRollback,
    DeferredScale,
    DeferredSource,
    Once,
)
from integrations.documents import DeferredStore, DirectoryStore
from integrations.http import HttpHealth

# Where a service's logs are when `logs:` does not say: Lambda's own group, and the group Elastic Beanstalk
# streams the application's output to (Amazon Linux 2 and 2023 platforms) once instance log streaming is on.
BEANSTALK_HINT = ("Elastic Beanstalk creates it only when instance log streaming to CloudWatch Logs is on "
                  "(Configuration → Updates, monitoring and logging); or name the group under the service's `logs:`")


def lambda_log_group(function: str) -> str:
    return f"/aws/lambda/{function}"


def beanstalk_log_group(environment: str) -> str:
    return f"/aws/elasticbeanstalk/{environment}/var/log/web.stdout.log"


def _logs(b: Builder, svc: Service) -> LogSource | None:
    """Where `/ops logs` reads: `logs:` when given, else the pods, else Lambda's group, else Beanstalk's."""
    if svc.logs is not None and svc.logs.groups:
        return DeferredLogs(Once(partial(make.log_groups, b, svc.logs.groups, "")))
    if svc.kubernetes is not None:
        return DeferredLogs(Once(partial(make.pod_logs, b, svc.kubernetes)))
    if svc.lambda_ is not None:
        group = lambda_log_group(svc.lambda_.function)
        return DeferredLogs(Once(partial(make.log_groups, b, (group,), "Lambda creates it on the function's "
                                         "first invocation; or name the group under the service's `logs:`")))
    if svc.beanstalk is not None:
        group = beanstalk_log_group(svc.beanstalk.environment)
        return DeferredLogs(Once(partial(make.log_groups, b, (group,), BEANSTALK_HINT)))
    return None


def _service(b: Builder, svc: Service, out: _Out) -> None:
    sources: list[StatusSource] = []
    rollback: RollbackTarget | None = None
    restart: RestartTarget | None = None
    if svc.health is not None:
        sources.append(HttpHealth(svc.health, b.http))
    if svc.kubernetes is not None:
        dep = Once(partial(make.deployment, b, svc.kubernetes))
        sources.append(DeferredSource(dep))
        rollback, restart = DeferredRollback(dep), DeferredRestart(dep)
        out.scale[svc.name] = DeferredScale(dep)
    if svc.lambda_ is not None:
        fn = Once(partial(make.lambda_, b, svc.lambda_))
        sources.append(DeferredSource(fn))
        rollback = rollback or DeferredRollback(fn)
    if svc.alarms:
        sources.append(DeferredSource(Once(partial(make.alarms, b, svc.alarms))))
    if svc.sqs_dlq is not None:
        sources.append(DeferredSource(Once(partial(make.dlq, b, svc.sqs_dlq))))
        out.dlq[svc.name] = DeferredRedrive(Once(partial(make.redrive, b, svc.sqs_dlq, None, REDRIVE_TIMEOUT)))
    if svc.beanstalk is not None:
        env = Once(partial(make.beanstalk, b, svc.beanstalk))
        sources.append(DeferredSource(env))
        rollback = rollback or DeferredRollback(env)
        restart = restart or DeferredRestart(env)
    if svc.cloudformation is not None:
        stack = Once(partial(make.stack, b, svc.cloudformation))
        sources.append(DeferredSource(stack))
        rollback = rollback or DeferredRollback(stack)
    if svc.rollback is not None:            # a named action rolls it back, whatever else the service has
        rollback = ActionRollback(svc.name, svc.rollback, out.actions[svc.rollback.action])
    if svc.restart is not None:             # likewise a restart
        restart = ActionRestart(svc.name, svc.restart, out.actions[svc.restart.action])
    out.status[svc.name] = tuple(sources)
    if rollback is not None:
        out.rollback[svc.name] = rollback
    logs = _logs(b, svc)
    if logs is not None:
        out.logs[svc.name] = logs
    if restart is not None:
        out.restart[svc.name] = restart


def _database(b: Builder, db: Database, out: _Out) -> None:
    sources: list[StatusSource] = []
    backup: BackupTarget | None = None
    if db.rds is not None:
        rds = Once(partial(make.rds, b, db, db.max_backup_age))
        backup = DeferredBackup(rds)
        sources.append(DeferredSource(rds))
    if db.kubernetes_cronjob is not None:
        job = Once(partial(make.cronjob, b, db, db.max_backup_age))
        sources.append(DeferredSource(job))
        backup = backup or DeferredBackup(job)
    if db.backup is not None:               # a named action backs it up, whatever else the database has
        backup = ActionBackup(db.name, db.backup, out.actions[db.backup.action])
    out.status[db.name] = tuple(sources)
    if backup is not None:
        out.backup[db.name] = backup


@dataclass
class _Out:
    status: dict[str, tuple[StatusSource, ...]] = field(default_factory=dict)
    rollback: dict[str, RollbackTarget] = field(default_factory=dict)
    backup: dict[str, BackupTarget] = field(default_factory=dict)
    scale: dict[str, ScaleTarget] = field(default_factory=dict)
    dlq: dict[str, RedriveTarget] = field(default_factory=dict)
    restart: dict[str, RestartTarget] = field(default_factory=dict)
    checks: dict[str, StatusSource] = field(default_factory=dict)
    logs: dict[str, LogSource] = field(default_factory=dict)
    actions: dict[str, NamedAction] = field(default_factory=dict)


def _postmortem_stores(b: Builder, config: OpsConfig) -> tuple[DocumentStore, ...]:
    """Where `/ops incident postmortem` keeps its document besides Slack: incidents.postmortems.directory, .s3."""
    cfg = config.incidents.postmortems
    stores: list[DocumentStore] = []
    if cfg.directory is not None:
        stores.append(DirectoryStore(cfg.directory))
    if cfg.s3 is not None:
        stores.append(DeferredStore(Once(partial(make.s3_documents, b, cfg.s3))))
    return tuple(stores)


def build_integrations(config: OpsConfig, *, clock: Clock = utcnow) -> Integrations:
    b, out = Builder(config, clock), _Out()
    out.actions = {a.name: NamedAction(a) for a in config.actions}
    for svc in config.services:
        _service(b, svc, out)
    for db in config.databases:
        _database(b, db, out)
    for queue in config.queues:
        source_url = str(queue.source_url) if queue.source_url else None
        out.dlq[queue.name] = DeferredRedrive(Once(partial(make.redrive, b, str(queue.url), source_url,
                                                           queue.redrive_timeout)))
    if config.integrations.kubernetes is not None:
        out.status[NODES] = (DeferredSource(Once(partial(make.nodes, b))),)
    out.checks = check_sources(b, config)
    action_targets: dict[str, ActionTarget] = dict(out.actions)
    return Integrations(status_sources=out.status, rollback_targets=out.rollback, backup_targets=out.backup,
                        scale_targets=out.scale, restart_targets=out.restart, dlq_targets=out.dlq,
                        check_sources=out.checks, log_sources=out.logs, action_targets=action_targets,
                        postmortem_stores=_postmortem_stores(b, config))
