"""Named actions (`actions:`): the team's own scripts and HTTP calls, run by `/ops run <action> [key=value …]`
or as a service's `rollback:` or a database's `backup:` mechanism.

An action is either a `command` (an argv list, run without a shell in a fixed `cwd`, with an environment built
only from `env`) or an `http` request. `{{args.x}}` places a validated argument into an argv item, the URL, a
header or the body; `{{secret.X}}` places a secret the action declares under `secrets:` (HTTP only: secrets
never go onto a command line, where `ps` shows them; a command gets them through `env`). Templates are
rendered once, in one pass, when the action runs: an argument that looks like a template stays text.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, JsonValue, field_validator, model_validator

from bot.config.secrets import ENV_NAME, SecretRef
from bot.config.values import (
    HEADER_NAME,
    SERVICE_NAME,
    Approvals,
    PositiveDuration,
    Problems,
    Strict,
    bounded,
    choices,
)

ARG_NAME = r"^[a-z][a-z0-9_]{0,31}$"
MAX_ARG_CHARS = 500
COMMAND_TIMEOUT = timedelta(minutes=5)
HTTP_TIMEOUT = timedelta(seconds=30)
_TEMPLATE = re.compile(r"\{\{(.*?)\}\}")
_PLACEHOLDER = re.compile(r"^\s*(args|secret)\.([A-Za-z_][A-Za-z0-9_]*)\s*$")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


class ArgumentError(ValueError):
    """Arguments an action can't take; str() is one short sentence that names the argument."""


def _text(value: object) -> object:
    """YAML writes `5` and `true` where a person means the text: arguments are text."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, int | float) else value


Text = Annotated[str, BeforeValidator(_text)]


class ActionArg(Strict):
    """One `key=value` an action takes. Values are text; `pattern` must match the whole value."""

    description: str | None = None
    choices: tuple[Text, ...] | None = Field(None, min_length=1)
    pattern: str | None = None
    default: Text | None = None
    required: bool = False

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _default_fits(self) -> ActionArg:
        if self.required and self.default is not None:
            raise ValueError("a required argument with a default is never missing: drop one of them")
        if self.default is not None:
            problem = self.problem("default", self.default)
            if problem:
                raise ValueError(problem)
        return self

    def problem(self, name: str, value: str) -> str | None:
        """Why `value` can't be this argument, or None."""
        if len(value) > MAX_ARG_CHARS:
            return f"{name} is {len(value)} characters long; the limit is {MAX_ARG_CHARS}"
        if self.choices is not None and value not in self.choices:
            return f"{name}={_show(value)} is not one of: {', '.join(self.choices)}"
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            return f"{name}={_show(value)} does not match `{self.pattern}`"
        return None


def _show(value: str) -> str:
    shown = value if len(value) <= 40 else value[:39] + "…"
    return f"`{shown.replace('`', chr(39))}`"


class HttpDryRun(Strict):
    """What `--dry-run` adds to an HTTP action's request: query parameters and headers (templates allowed)."""

    query: dict[str, str] = {}
    headers: dict[str, str] = {}

    @model_validator(mode="after")
    def _adds_something(self) -> HttpDryRun:
        if not self.query and not self.headers:
            raise ValueError("give `query:` or `headers:` (what marks the request as a dry run)")
        return self


class HttpRequestConfig(Strict):
    method: Annotated[Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"],
                      BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v)] = "POST"
    url: str = Field(min_length=8, max_length=2000)
    headers: dict[str, str] = {}
    body: JsonValue = None            # a string is sent as it is; a mapping or list as JSON
    expect_status: tuple[int, ...] = ()     # empty: any 2xx

    @field_validator("expect_status", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return (value,) if isinstance(value, int) else value

    @field_validator("expect_status")
    @classmethod
    def _statuses(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        bad = [s for s in value if not 100 <= s <= 599]
        if bad:
            raise ValueError(f"not HTTP status codes: {', '.join(map(str, bad))}")
        return value

    @field_validator("url")
    @classmethod
    def _fixed_host(cls, value: str) -> str:
        """The scheme and host are written in the config: no argument or secret may choose where a request
        (with its secrets) goes."""
        scheme, sep, rest = value.partition("://")
        if not sep or scheme.lower() not in ("http", "https"):
            raise ValueError("an http(s) URL, e.g. https://api.example.com/path")
        if "{{" in rest.split("/", 1)[0]:
            raise ValueError("templates may not choose the host: put `{{…}}` in the path or query only")
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not re.match(HEADER_NAME, name)]
        if bad:
            raise ValueError(f"not header names: {', '.join(bad)}")
        return value


CommandArgv = tuple[Annotated[str, Field(max_length=4000)], ...]


class ActionConfig(Strict):
    name: str = Field(pattern=SERVICE_NAME)
    description: str | None = Field(None, max_length=300)
    roles: tuple[str, ...] | None = None     # who may run or confirm it (and admins); None: the `run` command's rule
    confirm: bool = True                     # false: runs at once (still role-checked, on the runner, audited)
    approvals: Approvals = 1                 # different people who must confirm a run (four-eyes: 2)
    args: dict[str, ActionArg] = {}
    command: CommandArgv | None = Field(None, min_length=1)
    cwd: str | None = None                   # the directory a command runs in (absolute)
    env: dict[str, Text | SecretRef] = {}    # a command's whole environment, with PATH and LANG defaults
    http: HttpRequestConfig | None = None
    secrets: dict[str, SecretRef] = {}       # what an http action's `{{secret.X}}` names
    dry_run: CommandArgv | HttpDryRun | None = None
    timeout: PositiveDuration | None = None  # default 5m for a command, 30s for a request

    @field_validator("timeout")
    @classmethod
    def _sane_timeout(cls, value: timedelta | None) -> timedelta | None:
        return None if value is None else bounded(value, low=timedelta(seconds=1), high=timedelta(hours=6))

    @field_validator("args")
    @classmethod
    def _arg_names(cls, value: dict[str, ActionArg]) -> dict[str, ActionArg]:
        bad = [(f"{name}", "an argument name is lowercase letters, digits and _ (at most 32), starting with a "
                "letter, so it can be typed as name=value") for name in value if not re.match(ARG_NAME, name)]
        if bad:
            raise Problems(bad)
        return value

    @field_validator("env", "secrets")
    @classmethod
    def _env_names(cls, value: dict[str, object]) -> dict[str, object]:
        bad = [(name, "a name is letters, digits and _ , not starting with a digit")
               for name in value if not re.match(ENV_NAME, name)]
        if bad:
            raise Problems(bad)
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> ActionConfig:
        problems = self._kind_problems()
        if self.approvals > 1 and not self.confirm:
            problems.append(("approvals", f"{self.approvals} people must confirm, but `confirm: false` asks nobody"))
        problems += [(where, problem) for where, text in self.templates()
                     for problem in self._template_problems(text)]
        if problems:
            raise Problems(problems)
        return self

    def _kind_problems(self) -> list[tuple[str, str]]:
        if (self.command is None) == (self.http is None):
            return [("command", "give either `command:` (an argv list, run without a shell) or `http:` (a request)"
                     + (", not both" if self.command is not None else ""))]
        if self.command is not None:
            problems = []
            if self.cwd is None or not PurePosixPath(self.cwd).is_absolute():
                problems.append(("cwd", "a command needs `cwd:`, the absolute path of the directory it runs in"))
            if _TEMPLATE.search(self.command[0]):
                problems.append(("command[0]", "the program is fixed: templates only in the arguments after it"))
            if self.secrets:
                problems.append(("secrets", "a command gets secrets through `env:` (never on its command line)"))
            if isinstance(self.dry_run, HttpDryRun):
                problems.append(("dry_run", "for a command, `dry_run:` is a list of argv items to append"))
            return problems
        problems = [(key, f"`{key}:` is for command actions") for key in ("cwd", "env")
                    if getattr(self, key)]
        if self.dry_run is not None and not isinstance(self.dry_run, HttpDryRun):
            problems.append(("dry_run", "for an HTTP action, `dry_run:` is `{query: {...}}` and/or `{headers: {...}}`"))
        return problems

    def _template_problems(self, text: str) -> Iterator[str]:
        for match in _TEMPLATE.finditer(text):
            placeholder = _PLACEHOLDER.match(match.group(1))
            if placeholder is None:
                yield f"`{match.group(0)[:40]}` is not a template: use {{{{args.<name>}}}} or {{{{secret.<NAME>}}}}"
                continue
            kind, name = placeholder.groups()
            if kind == "args" and name not in self.args:
                yield f"names the undefined argument {name!r}; {choices(self.args, name)} (define it under args)"
            elif kind == "secret" and self.command is not None:
                yield "secrets never go onto a command line (`ps` shows it): pass it through `env:`"
            elif kind == "secret" and name not in self.secrets:
                yield (f"names the undeclared secret {name!r}; {choices(self.secrets, name)} "
                       "(declare it under secrets: {NAME: {secret: ENV_VAR}})")

    def templates(self) -> Iterator[tuple[str, str]]:
        """Every text that may hold templates, with its key path."""
        for i, item in enumerate(self.command or ()):
            yield f"command[{i}]", item
        if isinstance(self.dry_run, tuple):
            for i, item in enumerate(self.dry_run):
                yield f"dry_run[{i}]", item
        elif self.dry_run is not None:
            for part in ("query", "headers"):
                for key, value in getattr(self.dry_run, part).items():
                    yield f"dry_run.{part}.{key}", value
        if self.http is not None:
            yield "http.url", self.http.url
            for key, value in self.http.headers.items():
                yield f"http.headers.{key}", value
            for where, value in _leaves(self.http.body, "http.body"):
                yield where, value

    @property
    def effective_timeout(self) -> timedelta:
        return self.timeout or (COMMAND_TIMEOUT if self.command is not None else HTTP_TIMEOUT)

    def bind(self, given: Mapping[str, str]) -> dict[str, str]:
        """The action's arguments from what was typed, defaults filled in; ArgumentError names the first
        problem (unknown arguments, then missing ones, then a value that doesn't fit)."""
        unknown = [k for k in given if k not in self.args]
        if unknown:
            takes = ", ".join(self.args) or "no arguments"
            close = choices(self.args, unknown[0]).partition("; ")[2]
            raise ArgumentError(f"`{self.name}` has no argument `{unknown[0][:32]}`; it takes: {takes}"
                                + (f"; {close}" if close else ""))
        missing = [k for k, a in self.args.items() if a.required and k not in given]
        if missing:
            raise ArgumentError(f"`{self.name}` needs {', '.join(f'{k}=…' for k in missing)}")
        bound = {k: v for k, v in ((k, given.get(k, a.default)) for k, a in self.args.items()) if v is not None}
        for key, value in bound.items():
            problem = self.args[key].problem(key, value)
            if problem:
                raise ArgumentError(problem)
        return bound


def _leaves(value: JsonValue, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{where}[{i}]")


def render(text: str, *, args: Mapping[str, str], secrets: Callable[[str], str],
           quote: Callable[[str], str] = str) -> str:
    """`text` with each `{{args.x}}` and `{{secret.X}}` replaced, in one pass (a value is never read again as a
    template). `secrets(name)` gives a secret's text (its value when running; `{{secret.X}}` when showing);
    `quote` encodes each inserted value (percent-encoding in a URL)."""

    def one(match: re.Match[str]) -> str:
        placeholder = _PLACEHOLDER.match(match.group(1))
        assert placeholder is not None               # config validation guarantees it
        kind, name = placeholder.groups()
        return quote(args.get(name, "")) if kind == "args" else secrets(name)

    return _TEMPLATE.sub(one, text)


def render_json(value: JsonValue, *, args: Mapping[str, str], secrets: Callable[[str], str]) -> JsonValue:
    """A JSON body with templates rendered in its strings only: values are JSON-encoded, never spliced."""
    if isinstance(value, str):
        return render(value, args=args, secrets=secrets)
    if isinstance(value, dict):
        return {k: render_json(v, args=args, secrets=secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [render_json(v, args=args, secrets=secrets) for v in value]
    return value


def placeholder(kind: str) -> Callable[[str], str]:
    """A `secrets` function that shows the template instead of the value (plans, cards, audit)."""
    return lambda name: f"{{{{{kind}.{name}}}}}"


def is_lone_placeholder(item: str) -> str | None:
    """The argument an argv item consists of alone (`{{args.x}}`), or None."""
    match = _TEMPLATE.fullmatch(item.strip())
    inner = _PLACEHOLDER.match(match.group(1)) if match else None
    return inner.group(2) if inner and inner.group(1) == "args" else None


class ActionUse(Strict):
    """A service's or database's mechanism that is a named action: `{action: rollback-production, args: {…}}`."""

    action: str
    args: dict[str, Text] = {}


class RollbackActionUse(ActionUse):
    to_arg: str | None = None          # the argument `/ops rollback <service> to <x>` sets to x


def validate_action_uses(actions: tuple[ActionConfig, ...], uses: Iterator[tuple[str, ActionUse]],
                         *, role_names: Collection[str]) -> None:
    """Names unique; every role defined; every mechanism names a defined action and arguments it takes."""
    problems: list[tuple[str, str]] = []
    by_name: dict[str, ActionConfig] = {}
    for i, action in enumerate(actions):
        if action.name in by_name:
            problems.append((f"actions[{i}].name", f"the action name {action.name!r} is used twice"))
        by_name[action.name] = action
        for role in dict.fromkeys(action.roles or ()):
            if role not in role_names:
                problems.append((f"actions[{i}].roles", f"names the undefined role {role!r}; "
                                 f"{choices(role_names, role)} (define it under permissions.roles)"))
    for where, use in uses:
        used = by_name.get(use.action)
        if used is None:
            problems.append((f"{where}.action", f"no action named {use.action!r}; {choices(by_name, use.action)}"))
            continue
        problems += _use_problems(where, use, used)
    if problems:
        raise Problems(problems)


def _use_problems(where: str, use: ActionUse, action: ActionConfig) -> list[tuple[str, str]]:
    problems = [(f"{where}.args.{k}", f"`{action.name}` takes no argument {k!r}; {choices(action.args, k)}")
                for k in use.args if k not in action.args]
    to_arg = use.to_arg if isinstance(use, RollbackActionUse) else None
    if to_arg is not None and to_arg not in action.args:
        problems.append((f"{where}.to_arg", f"`{action.name}` takes no argument {to_arg!r}; "
                         f"{choices(action.args, to_arg)}"))
    if problems:
        return problems
    for key, value in use.args.items():
        problem = action.args[key].problem(key, value)
        if problem:
            problems.append((f"{where}.args.{key}", problem))
    missing = [k for k, a in action.args.items() if a.required and k not in use.args and k != to_arg]
    if missing:
        problems.append((f"{where}.args", f"`{action.name}` needs {', '.join(missing)}: give "
                         + ("them" if len(missing) > 1 else "it") + " here"))
    return problems
