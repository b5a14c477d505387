"""The `opsbot` command line: serve | socket | console | db upgrade | config check."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from bot.config import ConfigError, OpsConfig, load_config
from bot.config.services import Service
from bot.settings import Settings, SettingsError

log = logging.getLogger("opsbot")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="opsbot", description="ChatOps for on-call teams.")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the Slack app over HTTP (POST /slack/events)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000, help="0 picks a free port (logged at start)")
    serve.add_argument("--config", type=Path, help="config file (default: $OPSBOT_CONFIG or ops.yaml)")

    socket = sub.add_parser("socket", help="run the Slack app over Socket Mode (needs SLACK_APP_TOKEN); alarm "
                                           "receivers and health on a local port")
    socket.add_argument("--host", default="127.0.0.1")
    socket.add_argument("--port", type=int, default=3000, help="0 picks a free port (logged at start)")
    socket.add_argument("--config", type=Path)

    console = sub.add_parser("console", help="try the bot in a terminal, no Slack needed")
    console.add_argument("--config", type=Path)
    console.add_argument("--user", default=os.environ.get("USER", "console"), help="user id to act as")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_cmd", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations up to the newest (Alembic head)")

    config = sub.add_parser("config", help="configuration")
    config_sub = config.add_subparsers(dest="config_cmd", required=True, metavar="ACTION")
    check = config_sub.add_parser("check", help="validate a config file and summarize it")
    check.add_argument("file", nargs="?", type=Path)
    return p


def _setup_logging() -> None:
    level = os.environ.get("OPSBOT_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("slack_sdk", "slack_bolt", "httpx", "httpcore", "alembic", "waitress"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def _config(settings: Settings, path: Path | None) -> OpsConfig:
    return load_config(path or settings.config_path)


def _service_checks(s: Service) -> list[str]:
    checks = [f"health {s.health.url} (timeout {s.health.timeout.total_seconds():g}s)"] if s.health else []
    if s.kubernetes:
        checks.append(f"deployment {s.kubernetes.namespace}/{s.kubernetes.deployment}")
    if s.lambda_:
        checks.append(f"lambda {s.lambda_.function}:{s.lambda_.alias}")
    if s.alarms:
        checks.append(f"{len(s.alarms)} alarm(s)")
    if s.sqs_dlq:
        checks.append(f"dlq {s.sqs_dlq}")
    if s.beanstalk:
        checks.append(f"beanstalk {s.beanstalk.environment}")
    if s.cloudformation:
        checks.append(f"stack {s.cloudformation.stack}")
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
        lines.append(f"    - {d.name}: {', '.join(how) or 'no backup mechanism'}, max backup age "
                     f"{d.max_backup_age.total_seconds() / 3600:g}h")
    return "\n".join(lines + _schedules(config))


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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging()
    settings = Settings.from_env(os.environ)
    try:
        return _run(args, settings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    except SettingsError as exc:
        print(f"opsbot: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"opsbot: database error ({type(exc).__name__}); check DATABASE_URL", file=sys.stderr)
        return 3


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.cmd == "config":
        path = args.file or settings.config_path
        print(summary(load_config(path), path))
        return 0
    if args.cmd == "db":
        from bot.storage import db

        db.upgrade(db.make_engine(settings.database_url))
        print(f"database at head ({_safe_url(settings.database_url)})")
        return 0
    if args.cmd == "console":
        from bot.app import build_console

        build_console(settings, _config(settings, args.config), user_id=args.user).run(
            sys.stdin, prompt=sys.stdin.isatty())
        return 0
    return _slack(args, settings)


def _slack(args: argparse.Namespace, settings: Settings) -> int:
    """`serve` or `socket`: the same bot over HTTP or over Socket Mode, until SIGTERM or SIGINT."""
    socket_mode = args.cmd == "socket"
    settings.require("slack_bot_token", *(("slack_app_token",) if socket_mode else ("slack_signing_secret",)))
    config = _config(settings, args.config)
    from slack_sdk.errors import SlackApiError

    from bot.app import Transport, build_bot
    from bot.transports import HttpTransport, SocketModeTransport

    try:
        bot = build_bot(settings, config, socket_mode=socket_mode)
    except SlackApiError as exc:
        print(f"opsbot: Slack rejected the bot token ({exc.response.get('error')})", file=sys.stderr)
        return 2
    transport: Transport = HttpTransport(args.host, args.port)
    if socket_mode:
        assert settings.slack_app_token is not None
        transport = SocketModeTransport(settings.slack_app_token, args.host, args.port)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        bot.run(transport, stop=stop)
    except SlackApiError as exc:
        print(f"opsbot: Slack refused the connection ({exc.response.get('error')})", file=sys.stderr)
        return 2
    log.info("opsbot stopped")
    return 0


def _safe_url(url: str) -> str:
    """DATABASE_URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    raise SystemExit(main())
