"""What commands and checklists may ask of the systems we operate: the Protocols adapters implement, the plans
and outcomes of destructive operations, and the errors adapters raise.

Commands import only this module; the implementations (httpx, boto3, kubernetes) live next to it and are
built once by `integrations.factory.build_integrations()`, which imports an SDK only when the config names
something that needs it.

Destructive operations are plan -> apply: `plan_*()` computes what would change without changing anything
(that is `--dry-run`, and the text of the confirmation card); `rollback()`, `backup()`, `scale()`, `restart()`,
`redrive()` and `run()` do exactly that plan. A plan is a frozen pydantic model, one type per operation, stored as
JSON with the pending action (`PLAN.dump_json` / `PLAN.validate_json`) so another replica can apply it after the
confirmation click.

Errors, all with a short message that is safe to show in Slack. `temporary` says whether asking again later
may work; nothing is retried automatically where a retry could change something twice.

    AdapterError               the system could not be asked, or refused (permanent unless a subclass says so)
    ├── TemporaryAdapterError  asking again later may work
    │   ├── UnreachableError   connect/read timeout, DNS, connection refused
    │   └── ThrottledError     the API is rate-limiting us (AWS Throttling, HTTP 429)
    ├── AccessDeniedError      401/403, expired or missing credentials, missing IAM permission
    ├── TargetNotFoundError    the deployment / function / instance does not exist
    └── NotPossibleError       the operation makes no sense now: no previous revision, stack busy
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

NODES = "kubernetes-nodes"      # the status row for the cluster's nodes


class Health(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"          # we could not ask: timeout, access denied, unreachable

    @property
    def rank(self) -> int:
        """Higher is worse; the worst finding decides a service's state."""
        return {Health.OK: 0, Health.UNKNOWN: 1, Health.DEGRADED: 2, Health.DOWN: 3}[self]


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of `/ops status`: what one source says about one service."""

    source: str                  # "http", "kubernetes", "cloudwatch", ...
    subject: str                 # "GET http://127.0.0.1:8080/health"
    health: Health
    summary: str                 # "HTTP 200 in 12 ms", "no answer within 3s"
    latency: timedelta | None = None
    details: Mapping[str, str] = field(default_factory=dict)


class StatusSource(Protocol):
    """Says how a service is doing.

    An unhealthy target is a Finding, never an exception. Raise AdapterError only when the source itself
    could not be asked; the caller turns that into Health.UNKNOWN with the reason.
    """

    @property
    def timeout_s(self) -> float: ...

    def check(self) -> Sequence[Finding]: ...


class _Plan(BaseModel):
    """A change we are about to make, computed without making it: shown on the Confirm card, then applied."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: str                  # "deployment/flight-search-backend in flight-search-prod"
    current: str                 # "revision 7 (backend:1.4.2)"
    desired: str                 # "revision 6 (backend:1.4.1)"
    # When the mechanism is a named action (config `actions:`): its name, and the roles it names (shown on the
    # card; the confirming click is checked against the action's roles in the config as it is then).
    action: str | None = None
    roles: tuple[str, ...] | None = None


class RollbackPlan(_Plan):
    kind: Literal["rollback"] = "rollback"
    from_ref: str                # where the target is now (revision, version, stack status): apply refuses if it moved
    to_ref: str                  # where it goes (revision, version; for a stack, the recovery call)


class BackupPlan(_Plan):
    kind: Literal["backup"] = "backup"
    name: str                    # the snapshot or Job to create


class ScalePlan(_Plan):
    kind: Literal["scale"] = "scale"
    from_replicas: int
    replicas: int


class RedrivePlan(_Plan):
    kind: Literal["redrive"] = "redrive"
    queue_url: str               # the dead-letter queue the messages leave
    source_url: str              # the queue they go back to
    max_messages: int | None     # None: every message waiting when the redrive starts


class RestartPlan(_Plan):
    kind: Literal["restart"] = "restart"
    from_ref: str                # the target's last restart (or update) when planned: apply refuses if it moved


class ActionPlan(_Plan):
    """`/ops run <action>`: the action's validated arguments; templates are rendered (secrets read) when it runs."""

    kind: Literal["run"] = "run"
    action: str
    args: dict[str, str] = Field(default_factory=dict)
    dry_run: bool = False


Plan = Annotated[RollbackPlan | BackupPlan | ScalePlan | RestartPlan | RedrivePlan | ActionPlan,
                 Field(discriminator="kind")]
PLAN: TypeAdapter[RollbackPlan | BackupPlan | ScalePlan | RestartPlan | RedrivePlan | ActionPlan] = TypeAdapter(Plan)


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    summary: str                 # "rollout finished: 3/3 ready" / "snapshot opsbot-prod-db-20261122T0300Z available"
    details: Mapping[str, str] = field(default_factory=dict)


Progress = Callable[[str], None]     # posts a line to the card's thread; adapters never see Slack


class RollbackTarget(Protocol):
    """Returns a service to an earlier release.

    plan_rollback(to=None) means "the previous one". Raises NotPossibleError when there is nothing to
    roll back to, TargetNotFoundError when `to` names no known revision/version.
    """

    def plan_rollback(self, *, to: str | None = None) -> RollbackPlan: ...

    def rollback(self, plan: RollbackPlan, *, progress: Progress) -> Outcome: ...


class BackupTarget(Protocol):
    """Takes a backup now and watches it to the end (available, failed, or the configured timeout)."""

    def plan_backup(self) -> BackupPlan: ...

    def backup(self, plan: BackupPlan, *, progress: Progress) -> Outcome: ...


class ScaleTarget(Protocol):
    """Sets the replica count of a workload."""

    def plan_scale(self, *, replicas: int) -> ScalePlan: ...

    def scale(self, plan: ScalePlan, *, progress: Progress) -> Outcome: ...


class RestartTarget(Protocol):
    """Restarts a service's processes in place (same release): pods replaced, app servers restarted."""

    def plan_restart(self) -> RestartPlan: ...

    def restart(self, plan: RestartPlan, *, progress: Progress) -> Outcome: ...


@dataclass(frozen=True, slots=True)
class LogRequest:
    """What `/ops logs` asks a log source for: the window ending now, and at most the newest `lines` lines of
    each stream (each pod, each log group)."""

    since: timedelta
    lines: int
    contains: str | None = None      # a hint: a source that can filter on its side returns only lines containing it
    container: str | None = None     # Kubernetes: the container to read in each pod (else the pod's default one)


@dataclass(frozen=True, slots=True)
class LogLine:
    prefix: str                      # where it came from: the pod; for CloudWatch the time and the log stream
    text: str                        # the line as logged


@dataclass(frozen=True, slots=True)
class LogStream:
    name: str                        # the pod, or the log group
    lines: tuple[LogLine, ...]       # oldest first
    note: str | None = None          # why there is less than asked: "container app is waiting to start"


@dataclass(frozen=True, slots=True)
class LogReading:
    subject: str                     # "pods of deployment/web in prod", "log group /aws/lambda/fn"
    streams: tuple[LogStream, ...]   # in the order to show them (newest pod first)
    notes: tuple[str, ...] = ()      # about the whole reading: "showing the 10 newest of 14 pods"


class LogSource(Protocol):
    """Reads a service's recent logs. Read-only.

    A stream that cannot be read (a pod still starting, a container it does not have) is a LogStream with a
    note. Raises AdapterError only when nothing could be asked: the cluster or AWS unreachable, credentials
    refused, the deployment or log group not found."""

    def read_logs(self, request: LogRequest) -> LogReading: ...


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """One message of a peek, as the queue holds it (the body is not masked or trimmed here)."""

    message_id: str
    body: str
    receive_count: int           # ApproximateReceiveCount, this peek included
    sent_at: datetime | None     # SentTimestamp


@dataclass(frozen=True, slots=True)
class QueuePeek:
    queue: str                   # the queue's name
    waiting: int                 # ApproximateNumberOfMessages
    in_flight: int               # ApproximateNumberOfMessagesNotVisible: received by someone, not yet deleted
    messages: tuple[QueueMessage, ...]


class RedriveTarget(Protocol):
    """A dead-letter queue: look at what is waiting, and move it back to its source queue.

    peek() leaves every message where it was (visible again at once). plan_redrive() finds the source queue
    and raises NotPossibleError when there is none, or several to choose from, or nothing waiting.
    redrive() sends each message to the source before it deletes it from the dead-letter queue: a message is
    never lost, and one may arrive twice if the bot stops between the two.
    """

    def peek(self, *, limit: int) -> QueuePeek: ...

    def plan_redrive(self, *, max_messages: int | None) -> RedrivePlan: ...

    def redrive(self, plan: RedrivePlan, *, progress: Progress) -> Outcome: ...


class ActionTarget(Protocol):
    """Runs a named action (a command without a shell, or an HTTP request) and reports how it ended.

    plan_run() takes arguments already validated by the action's config (`ActionConfig.bind`); run() renders
    the templates, reading secrets only then, and streams what the action prints through `progress`."""

    def plan_run(self, args: Mapping[str, str], *, dry_run: bool = False) -> ActionPlan: ...

    def run(self, plan: ActionPlan, *, progress: Progress) -> Outcome: ...


class DocumentStore(Protocol):
    """Keeps a document (a postmortem) where people find it later: a directory, an S3 bucket.

    put() replaces a document of the same name and returns where it is now ("/srv/postmortems/x.md",
    "s3://bucket/postmortems/x.md"). Raises AdapterError when it could not be written."""

    def put(self, name: str, content: str) -> str: ...


@dataclass(frozen=True, slots=True)
class Integrations:
    """Every adapter, by service or database name. Commands look targets up here; they never build clients."""

    status_sources: Mapping[str, tuple[StatusSource, ...]] = field(default_factory=dict)
    rollback_targets: Mapping[str, RollbackTarget] = field(default_factory=dict)
    backup_targets: Mapping[str, BackupTarget] = field(default_factory=dict)
    scale_targets: Mapping[str, ScaleTarget] = field(default_factory=dict)
    log_sources: Mapping[str, LogSource] = field(default_factory=dict)
    dlq_targets: Mapping[str, RedriveTarget] = field(default_factory=dict)    # by queue or service name
    restart_targets: Mapping[str, RestartTarget] = field(default_factory=dict)
    action_targets: Mapping[str, ActionTarget] = field(default_factory=dict)     # by action name
    # Checklist checks that ask something of their own (cloudwatch_alarms, metric, tls_expiry, ...), by
    # check_key(checklist, position). Checks that reuse a service's or database's sources are not here.
    check_sources: Mapping[str, StatusSource] = field(default_factory=dict)
    postmortem_stores: tuple[DocumentStore, ...] = ()       # incidents.postmortems: directory, s3


def check_key(checklist: str, position: int) -> str:
    return f"{checklist}#{position}"


class AdapterError(Exception):
    """A system could not be asked, or refused. str() is short and safe to show in Slack."""

    temporary: ClassVar[bool] = False


class TemporaryAdapterError(AdapterError):
    """Asking again later may work."""

    temporary = True


class UnreachableError(TemporaryAdapterError):
    """Connect/read timeout, DNS failure, connection refused."""


class ThrottledError(TemporaryAdapterError):
    """The API is rate-limiting our requests."""


class AccessDeniedError(AdapterError):
    """401/403, expired or missing credentials, missing permission."""


class TargetNotFoundError(AdapterError):
    """The deployment, function, stack or instance does not exist."""


class NotPossibleError(AdapterError):
    """Not possible in the target's current state: no previous revision, stack busy, ..."""
