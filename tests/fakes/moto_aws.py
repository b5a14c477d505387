"""AWS on loopback: moto in server mode (one per test session, wiped per test), reached through
AWS_ENDPOINT_URL exactly as production code reaches AWS, plus seeding helpers."""
from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from bot.config import AwsSettings
from integrations.aws import AwsClients

ACCOUNT_ROLE = "arn:aws:iam::123456789012:role/lambda-role"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Aws:
    url: str
    clients: AwsClients

    def seed(self, service: str) -> Any:
        """A plain boto3 client for arranging state (what someone else did in the account)."""
        return boto3.client(service, config=Config(retries={"max_attempts": 1}))

    def lambda_function(self, name: str, *, versions: int, alias: str = "live",
                        alias_version: int | None = None) -> None:
        iam = self.seed("iam")
        trust = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": ' \
                '"lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
        try:
            iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument=trust)
        except iam.exceptions.EntityAlreadyExistsException:
            pass
        lam = self.seed("lambda")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("app.py", "def handler(event, context):\n    return 'ok'\n")
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=ACCOUNT_ROLE, Handler="app.handler",
                            Code={"ZipFile": buf.getvalue()})
        for i in range(versions):
            lam.update_function_configuration(FunctionName=name, Description=f"release {i + 1}")
            lam.publish_version(FunctionName=name, Description=f"release {i + 1}")
        lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=str(alias_version or versions))

    def rds_instance(self, name: str) -> None:
        self.seed("rds").create_db_instance(DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro",
                                            Engine="postgres", AllocatedStorage=20, MasterUsername="admin",
                                            MasterUserPassword="not-a-secret-123")

    def alarm(self, name: str, *, state: str = "OK", reason: str = "test") -> None:
        cw = self.seed("cloudwatch")
        cw.put_metric_alarm(AlarmName=name, MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum",
                            Period=60, EvaluationPeriods=1, Threshold=3, ComparisonOperator="GreaterThanThreshold")
        if state != "OK":
            cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)

    def queue(self, name: str, *, messages: int = 0) -> None:
        sqs = self.seed("sqs")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        for i in range(messages):
            sqs.send_message(QueueUrl=url, MessageBody=f"failed event {i}")


def aws_env(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL": url}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Aws:
    httpx.post(f"{moto_url}/moto-api/reset").raise_for_status()
    aws_env(monkeypatch, moto_url)
    return Aws(moto_url, AwsClients(AwsSettings(region="us-east-1", connect_timeout="1s", read_timeout="5s")))
