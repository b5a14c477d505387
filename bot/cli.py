"""The `opsbot` command line: serve | socket | console | db upgrade | config check.

Kept light to import: `serve` and `socket` take SIGTERM and SIGINT before anything heavy is loaded, because a
process that is PID 1 (as in a container) never gets a signal it has no handler for. A signal while the bot
starts stops the start; once it serves, it stops gracefully (see `Stopping`).

Every reason the bot cannot start is one line on stderr and an exit code (docs/deploy.md, "Exit codes").
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from bot.process import limit_malloc_arenas

if TYPE_CHECKING:
    from bot.config import OpsConfig
    from bot.settings import Settings
    from bot.transports import Listener

log = logging.getLogger("opsbot")
EXIT_CONFIG = 1         # the config file is missing or invalid
EXIT_START = 2          # anything else that keeps the bot from starting (environment, Slack, port, database)
EXIT_INTERRUPTED = 130  # Ctrl-C during `db upgrade`, `config check` or `console`
STOP_S = 8.0            # signal to exit, whatever still runs: 2 s inside docker stop's 10 s, for a loaded host


class CliError(Exception):
    """A reason the command cannot run; str() is the one line to print."""


class Stopped(BaseException):
    """SIGTERM or SIGINT arrived while the bot was still starting (a BaseException: nothing catches it)."""


class Stopping:
    """SIGTERM and SIGINT for `serve` and `socket`. While the bot starts, a signal stops the start where it
    is (raising `Stopped`); once it serves, a signal sets `event`, which every part of the bot waits on."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._starting = True

    def install(self) -> None:
        threading.Thread(target=self._watchdog, name="opsbot-stop-watchdog", daemon=True).start()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def serving(self) -> None:
        """From now on a signal only sets the event; the bot stops itself."""
        self._starting = False

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self.event.is_set():
            log.info("%s: stopping", signal.Signals(signum).name)
        self.event.set()
        if self._starting:
            self._starting = False        # raise once: the start's own clean-up must not be interrupted
            raise Stopped(signal.Signals(signum).name)

    def _watchdog(self) -> None:
        """The stop is bounded: STOP_S after the signal, whatever still runs (a command finishing after its
        ack, a stuck call) is left behind, the log is flushed, and the process exits."""
        self.event.wait()
        threading.Event().wait(STOP_S)                  # an event nobody sets: a wait that signals cannot cut
        log.warning("stopping took over %.1fs; exiting without waiting for: %s", STOP_S,
                    ", ".join(t.name for t in threading.enumerate() if t.is_alive() and not t.daemon) or "nothing")
        for handler in logging.getLogger().handlers:
            if handler.lock is None or handler.lock.acquire(timeout=0.2):   # a handler stuck writing is skipped
                try:
                    handler.flush()
                finally:
                    if handler.lock is not None:
                        handler.lock.release()
        os._exit(0)


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
    console.add_argument("--demo", action="store_true", help=argparse.SUPPRESS)   # examples/demo.py: alarms too

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_cmd", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations up to the newest (Alembic head)")

    config = sub.add_parser("config", help="configuration")
    config_sub = config.add_subparsers(dest="config_cmd", required=True, metavar="ACTION")
    check = config_sub.add_parser("check", help="validate a config file and summarize it")
    check.add_argument("file", nargs="?", type=Path)
    return p


def _setup_logging(cmd: str | None = None) -> None:
    """Logs go to stderr at OPSBOT_LOG_LEVEL: INFO by default, WARNING for the console, whose terminal is the
    conversation (an operator's INFO line between two answers reads as part of them). There, urllib3's retry
    warnings (the kubernetes client's) are left out too unless the level is asked for: the answer that follows
    says what failed, in one line."""
    from bot.logfmt import formatter

    level = os.environ.get("OPSBOT_LOG_LEVEL", "WARNING" if cmd == "console" else "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(os.environ.get("OPSBOT_LOG_FORMAT", "text")))
    logging.basicConfig(level=level, handlers=[handler])
    for noisy in ("slack_sdk", "slack_bolt", "httpx", "httpcore", "alembic", "waitress"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    if cmd == "console" and "OPSBOT_LOG_LEVEL" not in os.environ:
        logging.getLogger("urllib3").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stopping = Stopping() if args.cmd in ("serve", "socket") else None
    try:
        if stopping is not None:
            stopping.install()                      # first: before anything slow, and before PID 1 needs it
            limit_malloc_arenas()                   # before the threads that would each get an arena
        _setup_logging(args.cmd)
        code, message = _run(args, stopping), None
    except Stopped as exc:
        _setup_logging(args.cmd)                    # if the signal came first
        log.info("opsbot stopped while starting (%s)", exc)
        return 0
    except KeyboardInterrupt:
        code, message = EXIT_INTERRUPTED, "opsbot: interrupted"
    except Exception as exc:
        failure = _failure(exc)
        if failure is None:
            raise
        code, message = failure
    if message is not None:
        print(message, file=sys.stderr)
    return code


def _failure(exc: Exception) -> tuple[int, str] | None:
    """The exit code and the one line for an error that keeps the command from running; None for a bug."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.config import ConfigError
    from bot.settings import SettingsError
    from bot.storage.errors import UnsupportedDatabaseError, describe

    if isinstance(exc, ConfigError):
        return EXIT_CONFIG, str(exc)
    if isinstance(exc, SQLAlchemyError):
        return EXIT_START, f"opsbot: {describe(exc, _database_url())}"
    if isinstance(exc, (SettingsError, UnsupportedDatabaseError, CliError)):
        return EXIT_START, f"opsbot: {exc}"
    return None


def _database_url() -> str:
    from bot.settings import Settings

    return Settings.from_env(os.environ).database_url


def _run(args: argparse.Namespace, stopping: Stopping | None) -> int:
    from bot.config import load_config
    from bot.settings import Settings

    settings = Settings.from_env(os.environ)
    if args.cmd == "config":
        path = args.file or settings.config_path
        from bot.config.summary import summary

        print(summary(load_config(path), path))
        return 0
    if args.cmd == "db":
        from bot.storage import db

        db.upgrade(db.make_engine(settings.database_url))
        print(f"database at head ({_safe_url(settings.database_url)})")
        return 0
    if args.cmd == "console":
        from bot.app import build_console

        config = load_config(args.config or settings.config_path)
        _mask_in_logs(settings, config)             # the console's log lines hide the same secrets
        build_console(settings, config, user_id=args.user, demo=args.demo).run(sys.stdin, prompt=sys.stdin.isatty())
        return 0
    assert stopping is not None
    return _slack(args, settings, stopping)


def _slack(args: argparse.Namespace, settings: Settings, stopping: Stopping) -> int:
    """`serve` or `socket`: the same bot over HTTP or over Socket Mode, until SIGTERM or SIGINT."""
    from bot.config import load_config

    socket_mode = args.cmd == "socket"
    settings.require("slack_bot_token", *(("slack_app_token",) if socket_mode else ("slack_signing_secret",)))
    config = load_config(args.config or settings.config_path)
    _mask_in_logs(settings, config)
    from slack_bolt.error import BoltError
    from slack_sdk.errors import SlackApiError

    from bot.app import Transport, build_bot
    from bot.transports import HttpTransport, SocketModeTransport

    listener = _listen(args.host, args.port)
    _check_slack(settings)
    try:
        bot = build_bot(settings, config, socket_mode=socket_mode)
    except BoltError as exc:          # Slack changed its answer since _check_slack: still one line
        raise CliError(f"Slack: {str(exc).splitlines()[0]}") from exc
    transport: Transport = HttpTransport(listener)
    if socket_mode:
        assert settings.slack_app_token is not None
        transport = SocketModeTransport(settings.slack_app_token, listener)
    stopping.serving()
    try:
        bot.run(transport, stop=stopping.event)
    except SlackApiError as exc:
        raise CliError(f"Slack refused the Socket Mode connection ({exc.response.get('error')})") from exc
    log.info("opsbot stopped")
    return 0


def _mask_in_logs(settings: Settings, config: OpsConfig) -> None:
    """Log lines (text and JSON) hide the bot's own credentials and every secret the config names (as commands
    do)."""
    from bot.config.secrets import revealed_values
    from bot.logfmt import use_secrets

    own = (settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token)
    hook = config.alerts.webhook
    env = [os.environ.get(name or "", "") for name in (hook.token_env, hook.hmac_secret_env)]
    use_secrets([*revealed_values(config), *(s.get_secret_value() for s in own if s is not None), *env])


def _check_slack(settings: Settings) -> None:
    """auth.test, so that a rejected token or an unreachable Slack is one clear line, not Bolt's traceback."""
    from bot.delivery import DeliveryError, RefusedError
    from bot.slack.client import translated, web_client

    quiet = logging.getLogger("slack_sdk")        # it logs the failure too: say it once, here
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        with translated("auth.test"):
            web_client(settings).auth_test()
    except RefusedError as exc:
        raise CliError(f"Slack rejected the bot token ({exc.code})") from exc
    except DeliveryError as exc:                  # unreachable, failing, or rate-limiting us
        raise CliError(f"Slack is unreachable at {settings.slack_api_url} ({_reason(exc)})") from exc
    finally:
        quiet.setLevel(level)


def _listen(host: str, port: int) -> Listener:
    from bot.transports import Listener

    try:
        return Listener(host, port)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """The operating system's words for a network failure ("Connection refused", "Address already in use")."""
    seen: BaseException | None = exc
    while seen is not None:
        reason = getattr(seen, "reason", None)          # urllib's URLError wraps the OSError
        for candidate in (reason, seen):
            if isinstance(candidate, OSError) and candidate.strerror:
                return candidate.strerror
            if isinstance(candidate, TimeoutError):
                return "timed out"
        seen = seen.__cause__ or seen.__context__
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _safe_url(url: str) -> str:
    """DATABASE_URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    raise SystemExit(main())
