"""Rolling a settled CloudFormation stack back to its previous template, on moto.

moto's GetTemplate ignores ChangeSetName (it always answers with the stack's current template): `change_set_bodies`
answers those calls, and only those, from moto's own change sets, as CloudFormation would. moto also keeps no
LastUpdatedTime, so a stack's changes are told apart by status and template here.
"""
import json

import pytest
from botocore.awsrequest import AWSResponse
from moto.cloudformation.models import cloudformation_backends
from moto.core.models import DEFAULT_ACCOUNT_ID

from bot.config.services import CloudFormationConfig
from integrations.aws.cloudformation import CloudFormationStack, InProcessTemplates
from integrations.base import NotPossibleError
from tests.fakes.aws import REGION, FakeTime, aws, moto_server  # noqa: F401  (fixtures)

STACK = "parker-flight-api"


def template(*queues: str, parameter: bool = False) -> str:
    body: dict = {"Resources": {q: {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": q}} for q in queues}}
    if parameter:
        body["Parameters"] = {"Stage": {"Type": "String", "Default": "dev"}}
    return json.dumps(body)


def stack(cloud, templates=None):
    return CloudFormationStack(CloudFormationConfig(stack=STACK), cloud.clients, sleep=FakeTime().sleep,
                               monotonic=FakeTime().monotonic, templates=templates)


def live(cloud):
    return json.dumps(cloud.seed("cloudformation").get_template(StackName=STACK)["TemplateBody"])


def queues(cloud):
    return sorted(u.rsplit("/", 1)[1] for u in cloud.seed("sqs").list_queues().get("QueueUrls", []))


def change_set_bodies(client):
    """Answer GetTemplate calls that name a change set from moto's change sets; every other call goes to moto."""

    def answer(params, **kwargs):
        name = (params.get("body") or {}).get("ChangeSetName")
        if not name:
            return None
        change_set = cloudformation_backends[DEFAULT_ACCOUNT_ID][REGION].describe_change_set(name)
        return AWSResponse(None, 200, {}, None), {"TemplateBody": json.loads(change_set.template),
                                                  "ResponseMetadata": {"HTTPStatusCode": 200}}

    client.meta.events.register_first("before-call.cloudformation.GetTemplate", answer)


def test_a_completed_update_goes_back_to_the_template_seen_before_it(aws):  # noqa: F811
    cfn = aws.seed("cloudformation")
    cfn.create_stack(StackName=STACK, TemplateBody=template("jobs-a"))
    target = stack(aws)
    assert target.check()[0].summary == "CREATE_COMPLETE"          # the bot sees template A live
    before = live(aws)
    cfn.update_stack(StackName=STACK, TemplateBody=template("jobs-a", "jobs-b"))
    assert queues(aws) == ["jobs-a", "jobs-b"]
    plan = target.plan_rollback()
    assert plan.current.startswith("UPDATE_COMPLETE, template ")
    assert plan.desired.startswith("template ") and "(live before, seen by opsbot at " in plan.desired
    assert queues(aws) == ["jobs-a", "jobs-b"]                      # planning changed nothing
    lines: list[str] = []
    outcome = target.rollback(plan, progress=lines.append)
    assert outcome.ok and outcome.summary.startswith(f"stack {STACK} is UPDATE_COMPLETE on template ")
    assert live(aws) == before and lines[0].startswith(f"Updating {STACK} to template ")
    # and the template it replaced is now the earlier one: a second rollback would go forward again
    assert "jobs-b" in json.dumps(stack_body(target.templates))


def stack_body(templates):
    return [json.loads(t.body) for t in templates.recall(STACK)]


def test_without_an_earlier_template_it_says_so(aws):  # noqa: F811
    cfn = aws.seed("cloudformation")
    cfn.create_stack(StackName=STACK, TemplateBody=template("jobs-a"))
    cfn.update_stack(StackName=STACK, TemplateBody=template("jobs-a", "jobs-b"))   # the bot never saw A
    with pytest.raises(NotPossibleError) as caught:
        stack(aws).plan_rollback()
    assert str(caught.value).startswith(f"no earlier template known for stack {STACK}: the bot has not seen another "
                                        "template live on it, and it has no executed change set with another one.")


def test_the_previous_executed_change_set_is_used_when_the_bot_saw_nothing(aws):  # noqa: F811
    cfn = aws.seed("cloudformation")
    cfn.create_stack(StackName=STACK, TemplateBody=template("jobs-a", parameter=True),
                     Parameters=[{"ParameterKey": "Stage", "ParameterValue": "prod"}])
    cfn.create_change_set(StackName=STACK, ChangeSetName="release-41", ChangeSetType="UPDATE",
                          TemplateBody=template("jobs-b", parameter=True),
                          Parameters=[{"ParameterKey": "Stage", "ParameterValue": "prod"}])
    cfn.execute_change_set(StackName=STACK, ChangeSetName="release-41")
    cfn.update_stack(StackName=STACK, TemplateBody=template("jobs-c", parameter=True),
                     Parameters=[{"ParameterKey": "Stage", "UsePreviousValue": True}])
    target = stack(aws, templates=InProcessTemplates())
    change_set_bodies(aws.clients.client("cloudformation"))
    plan = target.plan_rollback()
    assert plan.desired.endswith("(of change set release-41)") and plan.to_ref == "template:changeset:release-41"
    outcome = target.rollback(plan, progress=lambda _: None)
    assert outcome.ok, outcome.summary
    assert json.loads(live(aws)) == json.loads(template("jobs-b", parameter=True))
    [stage] = cfn.describe_stacks(StackName=STACK)["Stacks"][0]["Parameters"]
    assert (stage["ParameterKey"], stage["ParameterValue"]) == ("Stage", "prod")


def test_apply_refuses_when_the_stack_changed_since_the_plan_and_failed_states_keep_their_calls(aws):  # noqa: F811
    cfn = aws.seed("cloudformation")
    cfn.create_stack(StackName=STACK, TemplateBody=template("jobs-a"))
    target = stack(aws)
    target.check()
    cfn.update_stack(StackName=STACK, TemplateBody=template("jobs-b"))
    plan = target.plan_rollback()
    cfn.update_stack(StackName=STACK, TemplateBody=template("jobs-c"))
    outcome = target.rollback(plan, progress=lambda _: None)
    assert not outcome.ok and "changed since the plan" in outcome.summary and "nothing was done" in outcome.summary
    assert json.loads(live(aws)) == json.loads(template("jobs-c"))
    aws.set_stack_status(STACK, "UPDATE_FAILED")
    assert target.plan_rollback().to_ref == "rollback_stack"
    aws.set_stack_status(STACK, "ROLLBACK_COMPLETE")
    with pytest.raises(NotPossibleError, match="stack is ROLLBACK_COMPLETE: nothing to roll back to; it can only be "
                                               "deleted"):
        target.plan_rollback()
