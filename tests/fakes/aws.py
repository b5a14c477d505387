"""AWS on loopback: moto in server mode (one per test session, wiped per test), reached through
AWS_ENDPOINT_URL exactly as production code reaches AWS; seeding helpers; a fake clock for polls; and a
Stubber that answers only the calls moto does not implement.

Where moto has an API for a state we need, the helpers use it. Where moto hardcodes a state (a
Beanstalk environment is always Grey on version "1"; a stack is only ever *_COMPLETE), the helpers set it
on moto's in-process model: ThreadedMotoServer serves from the same backends, so the adapter still reads
it over HTTP, as it would read the state AWS reports.
"""
from __future__ import annotations

import contextlib
import io
import socket
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto.cloudformation.models import cloudformation_backends
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.elasticbeanstalk.models import eb_backends
from moto.server import ThreadedMotoServer

from bot.config.services import AwsSettings
from integrations.aws import AwsClients

REGION = "us-east-1"
LAMBDA_ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/lambda-role"
TRUST = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": ' \
        '"lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def aws_env(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Test credentials and region, AWS_ENDPOINT_URL at `endpoint`, and nothing read from ~/.aws."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint,
                       "AWS_CONFIG_FILE": "/nonexistent/aws-config",
                       "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
                       "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ROLE_ARN",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(key, raising=False)


@dataclass
class Aws:
    url: str
    clients: AwsClients            # what the adapters under test use

    def seed(self, service: str) -> Any:
        """A plain boto3 client for arranging and inspecting state (what someone else does in the account)."""
        return boto3.client(service, region_name=REGION, endpoint_url=self.url,
                            config=Config(retries={"max_attempts": 1}))

    def lambda_function(self, name: str, *, versions: int, alias: str = "live", alias_version: int | None = None,
                        canary: dict[str, float] | None = None) -> None:
        """A function with `versions` published versions (1..n) and `alias` on the newest (or `alias_version`)."""
        iam = self.seed("iam")
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument=TRUST)
        lam = self.seed("lambda")
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=LAMBDA_ROLE, Handler="app.handler",
                            Code={"ZipFile": _zip("def handler(event, context):\n    return 'ok'\n")})
        for i in range(1, versions + 1):
            lam.update_function_configuration(FunctionName=name, Description=f"release {i}")
            lam.publish_version(FunctionName=name, Description=f"release {i}")
        routing = {"RoutingConfig": {"AdditionalVersionWeights": canary}} if canary else {}
        lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=str(alias_version or versions), **routing)

    def rds_instance(self, name: str, *, storage_gib: int = 20) -> None:
        self.seed("rds").create_db_instance(DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro",
                                            Engine="postgres", AllocatedStorage=storage_gib, MasterUsername="admin",
                                            MasterUserPassword="not-a-secret-123")

    def alarm(self, name: str, *, state: str = "OK", reason: str = "test") -> None:
        """A metric alarm in `state`. Moto never evaluates alarms: the state is set, as `set-alarm-state` does."""
        cw = self.seed("cloudwatch")
        cw.put_metric_alarm(AlarmName=name, MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum",
                            Period=300, EvaluationPeriods=1, Threshold=3, ComparisonOperator="GreaterThanThreshold")
        cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)

    def queue(self, name: str, *, messages: int = 0) -> None:
        sqs = self.seed("sqs")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        for i in range(messages):
            sqs.send_message(QueueUrl=url, MessageBody=f'{{"failed_event": {i}}}')

    def stack(self, name: str, *, status: str | None = None) -> None:
        """A stack created through the API (CREATE_COMPLETE), then put in `status` if given."""
        self.seed("cloudformation").create_stack(
            StackName=name, TemplateBody='{"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}')
        if status:
            self.set_stack_status(name, status)

    def set_stack_status(self, name: str, status: str) -> None:
        """Moto only ever reaches *_COMPLETE; real stacks fail and roll back. Set the state moto reports."""
        stacks = cloudformation_backends[DEFAULT_ACCOUNT_ID][REGION].stacks.values()
        [stack] = [s for s in stacks if s.name == name]
        stack.status = status

    def beanstalk_environment(self, application: str, environment: str, **state: str) -> None:
        """An application and environment created through the API, then given `state` (see set_environment)."""
        eb = self.seed("elasticbeanstalk")
        if application not in [a["ApplicationName"] for a in eb.describe_applications()["Applications"]]:
            eb.create_application(ApplicationName=application)
        eb.create_environment(ApplicationName=application, EnvironmentName=environment,
                              SolutionStackName="64bit Amazon Linux 2023 v4.3.0 running Python 3.11")
        self.set_environment(application, environment, **state)

    def set_environment(self, application: str, environment: str, *, version: str | None = None,
                        health: str | None = None, status: str | None = None) -> None:
        """Moto hardcodes Health Grey and VersionLabel "1" and has no update_environment: set what it reports."""
        env = eb_backends[DEFAULT_ACCOUNT_ID][REGION].applications[application].environments[environment]
        if version is not None:
            env.version_label = version
        if health is not None:
            env.health = health
        if status is not None:
            env.status = status

    @contextlib.contextmanager
    def iam_auth(self) -> Iterator[None]:
        """Moto checks every request's credentials against its IAM (none exist, so every key is invalid)."""
        httpx.post(f"{self.url}/moto-api/reset-auth", content=b"0").raise_for_status()
        try:
            yield
        finally:
            httpx.post(f"{self.url}/moto-api/reset-auth", content=b"inf").raise_for_status()


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Aws:
    httpx.post(f"{moto_server}/moto-api/reset").raise_for_status()
    aws_env(monkeypatch, moto_server)
    return Aws(moto_server, AwsClients(AwsSettings(region=REGION)))


class PartialStubber(Stubber):
    """botocore's Stubber, answering only the named operations ("UpdateEnvironment"); every other call on the
    client still goes over HTTP to moto. Stubber itself intercepts every call once activated."""

    def __init__(self, client: Any, *operations: str) -> None:
        super().__init__(client)
        service = client.meta.service_model.service_id.hyphenize()
        self._events = [(f"before-parameter-build.{service}.{op}", f"before-call.{service}.{op}", op)
                        for op in operations]

    def activate(self) -> None:
        for params_event, call_event, op in self._events:
            self.client.meta.events.register_first(params_event, self._assert_expected_params,
                                                   unique_id=f"{self._expected_params_event_id}-{op}")
            self.client.meta.events.register(call_event, self._get_response_handler, unique_id=f"{self._event_id}-{op}")

    def deactivate(self) -> None:
        for params_event, call_event, op in self._events:
            self.client.meta.events.unregister(params_event, self._assert_expected_params,
                                               unique_id=f"{self._expected_params_event_id}-{op}")
            self.client.meta.events.unregister(call_event, self._get_response_handler,
                                               unique_id=f"{self._event_id}-{op}")


@dataclass
class FakeTime:
    """Injected `sleep` + `monotonic` for polls: sleeping moves the clock, not the test. Each sleep may also run
    the next of `then` (the world changing while we wait)."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)
    then: list[Callable[[], None]] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        if self.then:
            self.then.pop(0)()

    def monotonic(self) -> float:
        return self.now


def closed_loopback_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (the port was just free)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", source)
    return buf.getvalue()
