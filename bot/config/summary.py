"""What `opsbot config check` prints about a valid config: one screen an on-call engineer can read."""
from __future__ import annotations

from pathlib import Path

from bot.clock import humanize
from bot.config.alerts import DAYS
from bot.config.ops import OpsConfig
from bot.config.services import Service


def _service_checks(s: Service) -> list[str]:
    checks = [f"health {s.health.url} (timeout {s.health.timeout.total_seconds():g}s)"] if s.health else []
    if s.kubernetes:
        checks.append(f"deployment {s.kubernetes.namespace}/{s.kubernetes.deployment}")
    if s.lambda_:
        checks.append(f"lambda {s.lambda_.function}:{s.lambda_.alias or '$LATEST'}")
    if s.alarms:
        checks.append(f"{len(s.alarms)} alarm(s)")
    if s.sqs_dlq:
        checks.append(f"dlq {s.sqs_dlq}")
    if s.beanstalk:
        checks.append(f"beanstalk {s.beanstalk.environment}")
    if s.cloudformation:
        checks.append(f"stack {s.cloudformation.stack}")
    if s.approvals > 1:
        checks.append(f"{s.approvals} approvals (four-eyes)")
    if s.rollback:
        checks.append(f"rollback by action {s.rollback.action}")
    if s.restart:
        checks.append(f"restart by action {s.restart.action}")
    return checks


def summary(config: OpsConfig, path: Path) -> str:
    perms, integ = config.permissions, config.integrations
    lines = [
        f"{path}: OK",
        f"  timezone     {config.timezone}",
        f"  channels     default {config.channels.default}, alerts {config.channels.alerts}",
        f"  permissions  {len(perms.admins)} admin(s), roles: {', '.join(perms.roles) or 'none'}; "
        f"restricted commands: {', '.join(perms.commands) or 'none'}",
        f"  integrations aws: {'yes' if integ.aws else 'no'}, kubernetes: {'yes' if integ.kubernetes else 'no'}",
        f"  services     {len(config.services)}",
    ]
    lines += [f"    - {s.name}: {', '.join(_service_checks(s)) or 'no checks'}" for s in config.services]
    lines.append(f"  databases    {len(config.databases)}")
    for d in config.databases:
        how = [f"rds {d.rds.instance}"] if d.rds else []
        how += [f"cronjob {d.kubernetes_cronjob.namespace}/{d.kubernetes_cronjob.name}"] if d.kubernetes_cronjob else []
        how += [f"backup by action {d.backup.action}"] if d.backup else []
        how += [f"{d.approvals} approvals (four-eyes)"] if d.approvals > 1 else []
        lines.append(f"    - {d.name}: {', '.join(how) or 'no backup mechanism'}, max backup age "
                     f"{d.max_backup_age.total_seconds() / 3600:g}h")
    if config.queues:
        lines.append(f"  queues       {len(config.queues)}")
    for q in config.queues:
        source = q.source_url.path.rsplit("/", 1)[-1] if q.source_url and q.source_url.path else "found in AWS"
        lines.append(f"    - {q.name}: {(q.url.path or '').rsplit('/', 1)[-1]} -> {source}")
    return "\n".join(lines + _escalation(config) + _actions(config) + _postmortems(config) + _schedules(config)
                     + _heartbeats(config)
                     + _maintenance(config))


def _escalation(config: OpsConfig) -> list[str]:
    """Each policy's steps in order (`unresolved` marks an unresolved_after step) and its business hours."""
    policies = config.alerts.escalation
    if not policies:
        return []
    lines = [f"  escalation   {len(policies)} polic{'y' if len(policies) == 1 else 'ies'}"]
    for severity, policy in sorted(policies.items()):
        steps = ", ".join(f"{'unresolved ' if s.unresolved else ''}{humanize(s.wait)} {' '.join(s.notify)}"
                          for s in policy.steps)
        hours = policy.business_hours
        calendar = ""
        if hours is not None:
            held = f", {len(hours.holidays)} holiday(s)" if hours.holidays else ""
            calendar = f" (business hours {_days(hours.days)} {hours.hours} {hours.timezone or config.timezone}{held})"
        lines.append(f"    - {severity}{calendar}: {steps}")
    return lines


def _days(days: tuple[str, ...]) -> str:
    """`mon-fri` for a run of days in week order, else `mon,wed,fri`."""
    index = [DAYS.index(d) for d in days]
    if len(index) > 2 and index == list(range(index[0], index[-1] + 1)):
        return f"{days[0]}-{days[-1]}"
    return ",".join(days)


def _postmortems(config: OpsConfig) -> list[str]:
    pm = config.incidents.postmortems
    where = ["Slack", *([pm.directory] if pm.directory else []),
             *([f"s3://{pm.s3.bucket}/{pm.s3.prefix}"] if pm.s3 else [])]
    remind = (f"reminders every {pm.remind_after.total_seconds() / 3600:g}h for "
              f"{pm.stop_reminding_after.total_seconds() / 86400:g}d" if pm.remind_after else "no reminders")
    return [f"  postmortems  to {', '.join(where)}; {remind}"]


def _actions(config: OpsConfig) -> list[str]:
    if not config.actions:
        return []
    lines = [f"  actions      {len(config.actions)}"]
    for a in config.actions:
        what = f"command {a.command[0]} in {a.cwd}" if a.command else f"http {a.http.method if a.http else ''}"
        who = f"roles {', '.join(a.roles) or 'admins only'}" if a.roles is not None else "anyone who may /ops run"
        lines.append(f"    - {a.name}: {what}, timeout {a.effective_timeout.total_seconds():g}s, "
                     f"{'asks for confirmation' if a.confirm else 'runs at once'}, {who}"
                     + (f", {a.approvals} approvals (four-eyes)" if a.approvals > 1 else "")
                     + (", has a dry-run form" if a.dry_run is not None else ""))
    return lines


def _schedules(config: OpsConfig) -> list[str]:
    sched = config.scheduler
    state = (f"on, grace {sched.misfire_grace_time.total_seconds() / 60:g}m, leader poll "
             f"{sched.leader_poll.total_seconds():g}s" if sched.enabled else "off")
    lines = [f"  checklists   {len(config.checklists)} (scheduler {state})"]
    for name, c in config.checklists.items():
        when = f"{c.schedule} ({c.timezone or config.timezone})" if c.schedule else "on demand"
        lines.append(f"    - {name}: {when} -> {c.channel or config.channels.default}, {len(c.checks)} check(s)")
    if config.reports:
        lines.append(f"  reports      {len(config.reports)}")
    for name, r in config.reports.items():
        when = f"{r.schedule} ({r.timezone or config.timezone})" if r.schedule else "on demand"
        lines.append(f"    - {name}: {r.kind}, {when} -> {r.channel or config.channels.default}")
    return lines


def _heartbeats(config: OpsConfig) -> list[str]:
    if not config.heartbeats:
        return []
    lines = [f"  heartbeats   {len(config.heartbeats)}"]
    for h in config.heartbeats:
        token = h.token or f"environment variable {config.alerts.webhook.token_env} (the webhook's)"
        lines.append(f"    - {h.name}: POST /alerts/heartbeat/{h.name} at least every "
                     f"{h.within.total_seconds() / 3600:g}h, else a {h.severity or config.alerts.default_severity} "
                     f"alert -> {h.route or 'alerts.routes'}; token in {token}")
    return lines


def _maintenance(config: OpsConfig) -> list[str]:
    if not config.maintenance:
        return []
    lines = [f"  maintenance  {len(config.maintenance)} scheduled window(s)"]
    for i, w in enumerate(config.maintenance):
        services = "all services" if w.all_services else ", ".join(w.services)
        lines.append(f"    - {w.name or f'[{i}]'}: {services}, {w.schedule} ({w.timezone or config.timezone}) for "
                     f"{w.duration.total_seconds() / 60:g}m -> {w.channel or config.channels.alerts}")
    return lines
