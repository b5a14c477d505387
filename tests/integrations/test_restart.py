"""Restart adapters: a Deployment on the Kubernetes emulator (kmock) as `kubectl rollout restart` does it, and a
Beanstalk environment on moto.

moto does not implement Elastic Beanstalk RestartAppServer (it answers 500): the Beanstalk tests answer that one
call with PartialStubber; DescribeEnvironments still goes to moto, and the fake clock moves the environment along
as Elastic Beanstalk would.
"""
from datetime import UTC, datetime

import pytest

from bot.config.services import BeanstalkConfig
from bot.config.services import KubernetesDeploymentConfig as DeploymentCfg
from integrations.aws.beanstalk import BeanstalkEnvironment
from integrations.base import NotPossibleError
from integrations.kubernetes import RESTARTED_AT, KubernetesDeployment
from tests.fakes.aws import Aws, FakeTime, PartialStubber, aws, moto_server  # noqa: F401  (fixtures)
from tests.fakes.kube import kube  # noqa: F401  (fixture)

NOW = datetime(2026, 11, 23, 3, 4, 5, tzinfo=UTC)
APP, ENV = "awning-wo", "awning-prod"


def deployment(kube, fake: FakeTime | None = None, *, rollout_timeout="5m"):  # noqa: F811
    fake = fake or FakeTime()
    return KubernetesDeployment(DeploymentCfg(deployment="web", namespace="prod", rollout_timeout=rollout_timeout),
                                kube.api_client(), timeout_s=2, poll_interval_s=2, sleep=fake.sleep,
                                monotonic=fake.monotonic, clock=lambda: NOW)


def template_annotations(kube):  # noqa: F811
    return kube.get("apps/v1/deployments", "prod", "web")["spec"]["template"]["metadata"].get("annotations")


def test_restart_sets_restarted_at_on_the_pod_template_and_waits_for_the_rollout(kube):  # noqa: F811
    kube.seed_deployment()
    kube.set_status("apps/v1/deployments", "prod", "web", {"replicas": 3, "readyReplicas": 3,
                                                           "updatedReplicas": 1, "availableReplicas": 3})
    fake = FakeTime(then=[lambda: kube.set_status("apps/v1/deployments", "prod", "web", {
        "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3, "availableReplicas": 3})])
    target = deployment(kube, fake)
    plan = target.plan_restart()
    assert (plan.current, plan.from_ref) == ("3/3 ready (web:3), last restarted never", "")
    assert template_annotations(kube) is None                  # planning changed nothing
    lines: list[str] = []
    outcome = target.restart(plan, progress=lines.append)
    assert outcome.ok and outcome.summary == "restarted at 2026-11-23T03:04:05Z: 3/3 ready"
    assert template_annotations(kube) == {RESTARTED_AT: "2026-11-23T03:04:05Z"}
    stored = kube.get("apps/v1/deployments", "prod", "web")
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "web:3"     # same release
    assert lines[0] == f"Set {RESTARTED_AT}=2026-11-23T03:04:05Z on deployment/web in prod; waiting for the new pods…"
    assert lines[1] == "…3/3 ready" and fake.slept == [2]       # waited while only 1 of 3 pods was updated


def test_restart_keeps_other_template_annotations_and_replaces_an_earlier_restart(kube):  # noqa: F811
    kube.seed_deployment()
    kube.patch("apps/v1/deployments", "prod", "web", {"spec": {"template": {"metadata": {"annotations": {
        "prometheus.io/scrape": "true", RESTARTED_AT: "2026-11-01T00:00:00Z"}}}}})
    target = deployment(kube)
    plan = target.plan_restart()
    assert plan.current.endswith("last restarted 2026-11-01T00:00:00Z")
    assert target.restart(plan, progress=lambda _: None).ok
    assert template_annotations(kube) == {"prometheus.io/scrape": "true", RESTARTED_AT: "2026-11-23T03:04:05Z"}


def test_restart_refuses_when_someone_restarted_since_the_plan(kube):  # noqa: F811
    kube.seed_deployment()
    target = deployment(kube)
    plan = target.plan_restart()
    kube.patch("apps/v1/deployments", "prod", "web", {"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT: "2026-11-23T03:00:00Z"}}}}})
    outcome = target.restart(plan, progress=lambda _: None)
    assert (outcome.ok, outcome.summary) == (False, "deployment/web in prod was restarted again since the plan "
                                                    "(at 2026-11-23T03:00:00Z); nothing was done")
    assert len(kube.history("apps/v1/deployments", "prod", "web")) == 2     # the seed and the other restart


def test_restart_that_never_gets_ready_times_out_and_a_paused_deployment_is_refused(kube):  # noqa: F811
    kube.seed_deployment(ready=1)
    fake = FakeTime()
    target = deployment(kube, fake, rollout_timeout="1m")
    outcome = target.restart(target.plan_restart(), progress=lambda _: None)
    assert (outcome.ok, outcome.summary) == (False, "rollout did not finish within 1m: 1/3 ready")
    kube.patch("apps/v1/deployments", "prod", "web", {"spec": {"paused": True}})
    with pytest.raises(NotPossibleError, match="is paused: resume the rollout first"):
        target.plan_restart()


def beanstalk(cloud: Aws, fake: FakeTime, timeout: str = "15m") -> BeanstalkEnvironment:
    cfg = BeanstalkConfig(environment=ENV, application=APP, update_timeout=timeout)
    return BeanstalkEnvironment(cfg, cloud.clients, sleep=fake.sleep, monotonic=fake.monotonic)


def test_beanstalk_restart_calls_restart_app_server_and_waits_for_ready_and_green(aws):  # noqa: F811
    aws.beanstalk_environment(APP, ENV, version="v42", health="Green")
    fake = FakeTime(then=[lambda: aws.set_environment(APP, ENV, status="Updating", health="Grey"),
                          lambda: aws.set_environment(APP, ENV, status="Ready", health="Grey"),
                          lambda: aws.set_environment(APP, ENV, health="Green")])
    target = beanstalk(aws, fake)
    plan = target.plan_restart()
    assert (plan.current, plan.desired) == (
        "Green, Ready, version v42", "app servers restarted on every instance, version v42 (as eb restart)")
    lines: list[str] = []
    # Stubber on RestartAppServer only: moto does not implement it.
    with PartialStubber(aws.clients.client("elasticbeanstalk"), "RestartAppServer") as stub:
        stub.add_response("restart_app_server", {}, {"EnvironmentName": ENV})
        outcome = target.restart(plan, progress=lines.append)
        stub.assert_no_pending_responses()
    assert (outcome.ok, outcome.summary) == (True, f"app servers restarted; beanstalk {ENV} is Green, Ready, "
                                                   "version v42")
    # the first poll still saw Ready/Green from before the restart: not taken as the end
    assert fake.slept == [10.0, 10.0, 10.0]
    assert lines[1:] == ["…Grey, Updating, version v42", "…Grey, Ready, version v42", "…Green, Ready, version v42"]


def test_beanstalk_restart_is_refused_unless_ready_and_times_out_when_it_stays_red(aws):  # noqa: F811
    aws.beanstalk_environment(APP, ENV, version="v42", health="Grey", status="Updating")
    with pytest.raises(NotPossibleError, match=f"beanstalk {ENV} is Updating, not Ready: wait for it to settle"):
        beanstalk(aws, FakeTime()).plan_restart()
    aws.set_environment(APP, ENV, status="Ready", health="Green")
    fake = FakeTime(then=[lambda: aws.set_environment(APP, ENV, status="Updating", health="Grey"),
                          lambda: aws.set_environment(APP, ENV, status="Ready", health="Red")])
    target = beanstalk(aws, fake, timeout="1m")
    plan = target.plan_restart()
    # Stubber on RestartAppServer only: moto does not implement it.
    with PartialStubber(aws.clients.client("elasticbeanstalk"), "RestartAppServer") as stub:
        stub.add_response("restart_app_server", {}, {"EnvironmentName": ENV})
        outcome = target.restart(plan, progress=lambda _: None)
    assert (outcome.ok, outcome.summary) == (False, f"beanstalk {ENV} not Ready and healthy within 1m after the "
                                                    "restart; now Red, Ready, version v42")
