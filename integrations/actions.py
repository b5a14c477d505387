"""Named actions (config `actions:`) as targets: `/ops run`, and a service's rollback or a database's backup
when its mechanism is an action.

A plan holds the action's name and its validated arguments, and is shown with secrets as `{{secret.X}}`. The
templates are rendered when the action runs, in one pass, with secrets read then (SecretRef.reveal); every
line shown from the action's output or answer is masked with those values (bot.masking).
"""
from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

from bot.clock import humanize
from bot.config.actions import (
    ActionConfig,
    ActionUse,
    ArgumentError,
    HttpDryRun,
    RollbackActionUse,
    is_lone_placeholder,
    placeholder,
    render,
    render_json,
)
from bot.config.secrets import SecretMissing, SecretRef
from bot.masking import Masker
from integrations.base import (
    ActionPlan,
    BackupPlan,
    NotPossibleError,
    Outcome,
    Progress,
    RestartPlan,
    RollbackPlan,
)
from integrations.command import cut, fenced, inert, run_command

if TYPE_CHECKING:
    import httpx

USER_AGENT = "opsbot-action/0.1"
BODY_CHARS = 1500              # of an HTTP answer, shown in the thread
SHOWN_BODY_CHARS = 300         # of a request body, shown on the card
SHOW_SECRET = placeholder("secret")
SHOWN_SECRET = re.compile(r"(\{\{secret\.[A-Za-z0-9_]+\}\}|%7B%7Bsecret\.[A-Za-z0-9_]+%7D%7D)")


def _url_value(value: str) -> str:
    return quote(value, safe="")


def _mask_around(parts: list[str]) -> str:
    """Mask credential-shaped text (a token written into the config) but not the `{{secret.X}}` shown instead
    of a secret: `parts` alternate text and placeholders (re.split with a group)."""
    mask = Masker()
    return "".join(part if i % 2 else mask(part) for i, part in enumerate(parts))


class NamedAction:
    """One configured action; implements integrations.base.ActionTarget."""

    def __init__(self, cfg: ActionConfig, *, environ: Mapping[str, str] | None = None) -> None:
        self.cfg = cfg
        self._environ = environ               # tests pass their own; None: the process environment

    # --- planning (nothing is read or run) ------------------------------------------------------------
    def plan_run(self, args: Mapping[str, str], *, dry_run: bool = False) -> ActionPlan:
        bound = self._bind(args)
        cfg = self.cfg
        if dry_run and cfg.dry_run is None:
            raise NotPossibleError(f"`{cfg.name}` has no dry-run form (its config has no `dry_run:`)")
        how = f"timeout {humanize(cfg.effective_timeout)}" + (" · dry-run form" if dry_run else "")
        if cfg.command is not None:
            current, desired = f"in {cfg.cwd} · {how}", shlex.join(self.argv(bound, dry_run=dry_run))
        else:
            current, desired = how, self.shown_request(bound, dry_run=dry_run)
        return ActionPlan(target=cfg.name + (" (dry run)" if dry_run else ""), current=current, desired=desired,
                          action=cfg.name, roles=cfg.roles, args=bound, dry_run=dry_run)

    def _bind(self, args: Mapping[str, str]) -> dict[str, str]:
        try:
            return self.cfg.bind(args)
        except ArgumentError as exc:
            raise NotPossibleError(str(exc)) from None

    def argv(self, args: Mapping[str, str], *, dry_run: bool) -> list[str]:
        """The argv: each item one argument, whatever its text. An item that is only an optional argument left
        empty is left out (so `[--tag, "{{args.tag}}"]` should be one item: `--tag={{args.tag}}`)."""
        assert self.cfg.command is not None
        items = [*self.cfg.command, *(self.cfg.dry_run if dry_run and isinstance(self.cfg.dry_run, tuple) else ())]
        out = []
        for item in items:
            lone = is_lone_placeholder(item)
            if lone is not None and not args.get(lone):
                continue
            out.append(render(item, args=args, secrets=SHOW_SECRET))
        return out

    def shown_request(self, args: Mapping[str, str], *, dry_run: bool) -> str:
        """The request as people see it: arguments filled in, secrets as `{{secret.X}}`, masked."""
        method, url, headers, body = self._request(args, dry_run=dry_run, secret=SHOW_SECRET)
        lines = [f"{method} {url}", *(f"{k}: {v}" for k, v in headers.items())]
        if body is not None:
            lines.append(cut(body if isinstance(body, str) else json.dumps(body), SHOWN_BODY_CHARS))
        return _mask_around(SHOWN_SECRET.split("\n".join(lines)))

    def _request(self, args: Mapping[str, str], *, dry_run: bool, secret: Callable[[str], str]
                 ) -> tuple[str, str, dict[str, str], object]:
        http = self.cfg.http
        assert http is not None
        url = render(http.url, args=args, secrets=lambda n: _url_value(secret(n)), quote=_url_value)
        headers = {k: render(v, args=args, secrets=secret) for k, v in http.headers.items()}
        dry = self.cfg.dry_run if dry_run and isinstance(self.cfg.dry_run, HttpDryRun) else None
        if dry is not None:
            headers |= {k: render(v, args=args, secrets=secret) for k, v in dry.headers.items()}
            if dry.query:
                import httpx

                query = {k: render(v, args=args, secrets=secret) for k, v in dry.query.items()}
                url = str(httpx.URL(url).copy_merge_params(query))
        body: object = None
        if isinstance(http.body, str):
            body = render(http.body, args=args, secrets=secret)
        elif http.body is not None:
            body = render_json(http.body, args=args, secrets=secret)
        return http.method, url, headers, body

    # --- running ----------------------------------------------------------------------------------------
    def run(self, plan: ActionPlan, *, progress: Progress) -> Outcome:
        try:
            args = self.cfg.bind(plan.args)
        except ArgumentError as exc:
            return Outcome(False, f"its arguments no longer fit the action's config ({exc}); nothing was run")
        if plan.dry_run and self.cfg.dry_run is None:
            return Outcome(False, "the action no longer has a dry-run form in the config; nothing was run")
        try:
            env = {k: v.reveal(self._environ) if isinstance(v, SecretRef) else v for k, v in self.cfg.env.items()}
            secrets = {k: v.reveal(self._environ) for k, v in self.cfg.secrets.items()}
        except SecretMissing as exc:
            return Outcome(False, f"{exc}; nothing was run")
        values = [*secrets.values(), *(env[k] for k, v in self.cfg.env.items() if isinstance(v, SecretRef))]
        mask = Masker([*values, *(_url_value(v) for v in values)])
        if self.cfg.command is not None:
            assert self.cfg.cwd is not None
            line = shlex.join(self.argv(args, dry_run=plan.dry_run))
            progress(f"Running `{inert(cut(line, 1000))}` in `{inert(self.cfg.cwd)}`")
            return run_command(self.argv(args, dry_run=plan.dry_run), cwd=self.cfg.cwd, env=env,
                               timeout=self.cfg.effective_timeout, progress=progress, mask=mask)
        return self._send(args, dry_run=plan.dry_run, secrets=secrets, mask=mask, progress=progress)

    def _send(self, args: Mapping[str, str], *, dry_run: bool, secrets: Mapping[str, str], mask: Masker,
              progress: Progress) -> Outcome:
        import httpx

        method, url, headers, body = self._request(args, dry_run=dry_run, secret=lambda n: secrets[n])
        bad = [k for k, v in headers.items() if "\r" in v or "\n" in v]
        if bad:
            return Outcome(False, f"the header {bad[0]} would contain a line break; nothing was sent")
        timeout_s = self.cfg.effective_timeout.total_seconds()
        content = body if isinstance(body, str) else None
        started = time.monotonic()
        try:
            with httpx.Client(follow_redirects=False, headers={"User-Agent": USER_AGENT},
                              timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0))) as client:
                response = client.request(method, url, headers=headers, content=content,
                                          json=body if content is None and body is not None else None)
        except httpx.TimeoutException:
            return Outcome(False, f"no answer within {humanize(self.cfg.effective_timeout)}; the far end may or "
                                  "may not have acted")
        except httpx.ConnectError:
            return Outcome(False, f"cannot connect to {httpx.URL(url).host}; nothing was sent")
        except httpx.HTTPError as exc:
            return Outcome(False, f"the request failed ({type(exc).__name__})")
        return self._judge(response, took=time.monotonic() - started, mask=mask, progress=progress)

    def _judge(self, response: httpx.Response, *, took: float, mask: Masker, progress: Progress) -> Outcome:
        assert self.cfg.http is not None
        expect = self.cfg.http.expect_status
        ok = response.status_code in expect if expect else 200 <= response.status_code < 300
        head = f"HTTP {response.status_code} in {took * 1000:.0f} ms"
        text = cut(mask(response.text.strip()), BODY_CHARS)
        progress(head + (f"\n{fenced(text)}" if text else ""))
        if ok:
            return Outcome(True, head)
        wanted = ", ".join(map(str, expect)) if expect else "2xx"
        first = cut(text.splitlines()[0], 200) if text else ""
        return Outcome(False, f"{head}, expected {wanted}" + (f": {first}" if first else ""))


class ActionRollback:
    """A service whose `rollback:` is a named action (a RollbackTarget)."""

    def __init__(self, service: str, use: RollbackActionUse, action: NamedAction) -> None:
        self.service, self.use, self.action = service, use, action

    def _args(self, to: str | None) -> dict[str, str]:
        args = dict(self.use.args)
        if to is not None:
            if self.use.to_arg is None:
                raise NotPossibleError(f"{self.service} rolls back with the action `{self.use.action}`, which "
                                       "takes no version: leave out `to …` (or set `to_arg:` in its rollback)")
            args[self.use.to_arg] = to
        return args

    def plan_rollback(self, *, to: str | None = None) -> RollbackPlan:
        inner = self.action.plan_run(self._args(to))
        return RollbackPlan(target=f"{self.service}, by the action {self.use.action}", current=inner.current,
                            desired=inner.desired, from_ref="", to_ref=to or "", action=self.use.action,
                            roles=inner.roles)

    def rollback(self, plan: RollbackPlan, *, progress: Progress) -> Outcome:
        try:
            inner = self.action.plan_run(self._args(plan.to_ref or None))
        except NotPossibleError as exc:
            return Outcome(False, f"{exc}; nothing was run")
        return self.action.run(inner, progress=progress)


class ActionRestart:
    """A service whose `restart:` is a named action (a RestartTarget): `eb restart` or a team's own script."""

    def __init__(self, service: str, use: ActionUse, action: NamedAction) -> None:
        self.service, self.use, self.action = service, use, action

    def plan_restart(self) -> RestartPlan:
        inner = self.action.plan_run(self.use.args)
        return RestartPlan(target=f"{self.service}, by the action {self.use.action}", current=inner.current,
                           desired=inner.desired, from_ref="", action=self.use.action, roles=inner.roles)

    def restart(self, plan: RestartPlan, *, progress: Progress) -> Outcome:
        try:
            inner = self.action.plan_run(self.use.args)
        except NotPossibleError as exc:
            return Outcome(False, f"{exc}; nothing was run")
        return self.action.run(inner, progress=progress)


class ActionBackup:
    """A database whose `backup:` is a named action (a BackupTarget)."""

    def __init__(self, database: str, use: ActionUse, action: NamedAction) -> None:
        self.database, self.use, self.action = database, use, action

    def plan_backup(self) -> BackupPlan:
        inner = self.action.plan_run(self.use.args)
        return BackupPlan(target=f"{self.database}, by the action {self.use.action}", current=inner.current,
                          desired=inner.desired, name=self.use.action, action=self.use.action, roles=inner.roles)

    def backup(self, plan: BackupPlan, *, progress: Progress) -> Outcome:
        try:
            inner = self.action.plan_run(self.use.args)
        except NotPossibleError as exc:
            return Outcome(False, f"{exc}; nothing was run")
        return self.action.run(inner, progress=progress)
