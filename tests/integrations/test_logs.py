"""Log sources for /ops logs against real APIs on loopback: a Deployment's pods on kmock (pod logs served by
tests/fakes/kube.py as the API server does) and CloudWatch Logs groups on moto in server mode."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client

from bot.config.services import KubernetesDeploymentConfig
from integrations.aws.logs import READ_PAGES, CloudWatchLogGroups, _phrase
from integrations.base import AccessDeniedError, LogRequest, TargetNotFoundError, UnreachableError
from integrations.kubernetes_logs import MAX_PODS, KubernetesPodLogs
from tests.fakes.aws import aws, moto_server  # noqa: F401  (fixtures)
from tests.fakes.kube import closed_port_url, kube  # noqa: F401  (fixture)

NOW = datetime.now(UTC).replace(second=0, microsecond=0)     # moto refuses events much older than now
FIFTEEN = timedelta(minutes=15)


def pods(kube, timeout_s=2.0):  # noqa: F811
    return KubernetesPodLogs(KubernetesDeploymentConfig(deployment="web", namespace="prod"), kube.api_client(),
                             timeout_s=timeout_s)


def test_pod_logs_newest_pod_first_each_line_named_for_its_pod(kube):  # noqa: F811
    kube.seed_deployment()
    kube.seed_pod("web-h3-old", "prod", owner_rs="web-h3", age_s=600)
    kube.seed_pod("web-h3-new", "prod", owner_rs="web-h3", age_s=5)
    kube.seed_pod("web-impostor-x", "prod", owner_rs="web-impostor", age_s=1)    # another deployment's pod
    kube.write_log("prod", "web-h3-old", ["old 1", "old 2"])
    kube.write_log("prod", "web-h3-new", ["new 1"])
    kube.write_log("prod", "web-impostor-x", ["not ours"])
    reading = pods(kube).read_logs(LogRequest(since=FIFTEEN, lines=100))
    assert reading.subject == "pods of deployment/web in prod"
    assert [s.name for s in reading.streams] == ["web-h3-new", "web-h3-old"]
    assert [(line.prefix, line.text) for line in reading.streams[1].lines] == [("web-h3-old", "old 1"),
                                                                               ("web-h3-old", "old 2")]


def test_pod_logs_ask_the_api_for_the_window_and_the_tail(kube):  # noqa: F811
    kube.seed_deployment()
    kube.seed_pod("web-h3-a", "prod", owner_rs="web-h3")
    kube.write_log("prod", "web-h3-a", ["an hour ago"], age_s=3600)
    kube.write_log("prod", "web-h3-a", [f"recent {i}" for i in range(10)])
    reading = pods(kube).read_logs(LogRequest(since=FIFTEEN, lines=3))
    assert [line.text for line in reading.streams[0].lines] == ["recent 7", "recent 8", "recent 9"]
    assert kube.log_reads[-1] == {"pod": "web-h3-a", "container": "app", "sinceSeconds": "900", "tailLines": "3"}


def test_pod_containers_chosen_as_kubectl_does_and_refusals_become_notes(kube):  # noqa: F811
    kube.seed_deployment()
    kube.seed_pod("web-h3-two", "prod", owner_rs="web-h3", containers=("app", "proxy"), age_s=30,
                  annotations={"kubectl.kubernetes.io/default-container": "proxy"})
    kube.seed_pod("web-h3-new", "prod", owner_rs="web-h3", waiting="ContainerCreating", age_s=1)
    kube.write_log("prod", "web-h3-two", ["from proxy"], container="proxy")
    reading = pods(kube).read_logs(LogRequest(since=FIFTEEN, lines=10))
    starting, two = reading.streams
    assert starting.lines == () and starting.note == 'container "app" in pod "web-h3-new" is waiting to start: ' \
                                                     "ContainerCreating"
    assert [line.text for line in two.lines] == ["from proxy"]
    assert two.note == "container proxy (of app, proxy; pick one with --container)"

    picked = pods(kube).read_logs(LogRequest(since=FIFTEEN, lines=10, container="proxy"))
    assert picked.streams[0].note == "has no container 'proxy' (it has app)"
    assert [line.text for line in picked.streams[1].lines] == ["from proxy"] and picked.streams[1].note is None


def test_only_the_newest_pods_are_read(kube):  # noqa: F811
    kube.seed_deployment()
    for i in range(MAX_PODS + 2):
        kube.seed_pod(f"web-h3-{i:02d}", "prod", owner_rs="web-h3", age_s=100 - i)
    reading = pods(kube).read_logs(LogRequest(since=FIFTEEN, lines=10))
    assert len(reading.streams) == MAX_PODS and reading.streams[0].name == f"web-h3-{MAX_PODS + 1:02d}"
    assert reading.notes == (f"showing the {MAX_PODS} newest of {MAX_PODS + 2} pods",)


def test_no_pods_and_no_deployment(kube):  # noqa: F811
    kube.seed_deployment()
    assert pods(kube).read_logs(LogRequest(since=FIFTEEN, lines=10)).notes == ("deployment/web in prod has no pods.",)
    with pytest.raises(TargetNotFoundError, match="deployment/other in prod: not found"):
        KubernetesPodLogs(KubernetesDeploymentConfig(deployment="other", namespace="prod"), kube.api_client(),
                          timeout_s=2).read_logs(LogRequest(since=FIFTEEN, lines=10))


def test_a_dead_cluster_is_unreachable_and_a_refusing_one_denied(kube):  # noqa: F811
    configuration = client.Configuration()
    configuration.host = closed_port_url()
    dead = KubernetesPodLogs(KubernetesDeploymentConfig(deployment="web", namespace="prod"),
                             client.ApiClient(configuration), timeout_s=1)
    with pytest.raises(UnreachableError, match=r"cluster did not answer \(connection refused\)"):
        dead.read_logs(LogRequest(since=FIFTEEN, lines=10))

    kube.seed_deployment()
    kube.seed_pod("web-h3-a", "prod", owner_rs="web-h3")
    kube.refuse_logs = 401
    with pytest.raises(AccessDeniedError, match="the log of pod web-h3-a: access denied by the cluster"):
        pods(kube).read_logs(LogRequest(since=FIFTEEN, lines=10))


# --- CloudWatch Logs -----------------------------------------------------------------------------------------

def _group(aws, name, events):  # noqa: F811
    """A log group with one stream and `events`: (minutes before NOW, message)."""
    logs = aws.seed("logs")
    logs.create_log_group(logGroupName=name)
    stream = "2026/11/23/[$LATEST]0123456789abcdef0123456789abcdef"     # as Lambda names them
    logs.create_log_stream(logGroupName=name, logStreamName=stream)
    logs.put_log_events(logGroupName=name, logStreamName=stream, logEvents=[
        {"timestamp": int((NOW - timedelta(minutes=ago)).timestamp() * 1000), "message": message}
        for ago, message in sorted(events, key=lambda e: -e[0])])


def groups(aws, *names, hint=""):  # noqa: F811
    return CloudWatchLogGroups(names, aws.clients, clock=lambda: NOW, missing_hint=hint)


def test_cloudwatch_reads_the_window_newest_lines_with_time_and_stream(aws):  # noqa: F811
    _group(aws, "/aws/lambda/fn", [(60, "too old"), (10, "START one"), (5, "ERROR two"), (1, "END three")])
    reading = groups(aws, "/aws/lambda/fn").read_logs(LogRequest(since=FIFTEEN, lines=2))
    assert reading.subject == "log group /aws/lambda/fn"
    [stream] = reading.streams
    at = [f"{NOW - timedelta(minutes=m):%H:%M:%S} …89abcdef" for m in (5, 1)]
    assert [(line.prefix, line.text) for line in stream.lines] == [(at[0], "ERROR two"), (at[1], "END three")]


def test_cloudwatch_narrows_with_a_quoted_phrase(aws):  # noqa: F811
    _group(aws, "/app", [(3, "ERROR db timeout"), (2, "ERROR cache"), (1, "db timeout ERROR")])
    reading = groups(aws, "/app").read_logs(LogRequest(since=FIFTEEN, lines=10, contains="ERROR db"))
    assert [line.text for line in reading.streams[0].lines] == ["ERROR db timeout"]
    assert _phrase('say "hi" now!') == '" now!"' and _phrase('"') is None and _phrase(None) is None


def test_cloudwatch_several_groups_and_a_missing_one(aws):  # noqa: F811
    _group(aws, "/a", [(1, "from a")])
    reading = groups(aws, "/a", "/missing").read_logs(LogRequest(since=FIFTEEN, lines=10))
    assert reading.subject == "log groups /a, /missing"
    assert [(s.name, s.note) for s in reading.streams] == [("/a", None), ("/missing", "log group not found")]
    with pytest.raises(TargetNotFoundError, match=r"log group /missing: not found .*\. Turn streaming on"):
        groups(aws, "/missing", hint="Turn streaming on").read_logs(LogRequest(since=FIFTEEN, lines=10))


def test_cloudwatch_says_when_it_stopped_before_the_newest_events(aws):  # noqa: F811
    _group(aws, "/busy", [(10 - i * 0.1, f"event {i}") for i in range(30)])
    source = CloudWatchLogGroups(("/busy",), aws.clients, clock=lambda: NOW, page_events=2)   # small pages
    reading = source.read_logs(LogRequest(since=FIFTEEN, lines=3))
    [stream] = reading.streams
    assert [line.text for line in stream.lines] == [f"event {i}" for i in (2 * READ_PAGES - 3, 2 * READ_PAGES - 2,
                                                                           2 * READ_PAGES - 1)]
    assert stream.note is not None and "not the newest of the window" in stream.note


def test_cloudwatch_refused_credentials(aws):  # noqa: F811
    _group(aws, "/app", [(1, "x")])
    with aws.iam_auth(), pytest.raises(AccessDeniedError, match="log group /app: AWS credentials expired"):
        groups(aws, "/app").read_logs(LogRequest(since=FIFTEEN, lines=10))
