"""A Lambda function without an alias, on moto: status names the release $LATEST runs, and rollback redeploys an
earlier published version's code to $LATEST and publishes it. Version code is downloaded from `Code.Location`
through tests/fakes/lambda_code.code_bucket() (moto serves no such URL: see there)."""
import httpx
import pytest
from sqlalchemy import select

from bot.config.services import LambdaAliasConfig
from bot.storage.models import AuditEntry
from integrations.aws.lambda_ import LambdaFunction
from integrations.base import (
    AdapterError,
    Health,
    Integrations,
    NotPossibleError,
    TargetNotFoundError,
    UnreachableError,
)
from tests.fakes.aws import FakeTime, aws, moto_server  # noqa: F401  (fixtures)
from tests.fakes.lambda_code import CODE_HOST, code_bucket, release, zip_of

FN = "weather-monitor"


def function(cloud, *, bucket=None, fake=None):
    fake = fake or FakeTime()
    bucket = bucket or code_bucket()
    return LambdaFunction(LambdaAliasConfig(function=FN), cloud.clients, http=lambda: bucket,
                          sleep=fake.sleep, monotonic=fake.monotonic)


def releases(cloud, n):
    return [release(cloud, FN, f"def handler(event, context):\n    return {i}\n") for i in range(1, n + 1)]


def latest_code(cloud, qualifier="$LATEST"):
    return cloud.seed("lambda").get_function_configuration(FunctionName=FN, Qualifier=qualifier)["CodeSha256"]


def test_status_names_the_release_latest_runs_and_when_it_changed(aws):  # noqa: F811
    releases(aws, 3)
    [finding] = function(aws).check()
    assert (finding.subject, finding.health) == (f"lambda {FN}", Health.OK)
    assert finding.summary.startswith("$LATEST = version 3, modified 20") and finding.summary.endswith(" UTC, active")
    aws.seed("lambda").update_function_code(FunctionName=FN, ZipFile=zip_of("def handler(e, c):\n    return 9\n"))
    assert function(aws).check()[0].summary.startswith("$LATEST = unpublished code, modified ")


def test_rollback_redeploys_the_previous_versions_code_and_publishes_it(aws):  # noqa: F811
    releases(aws, 3)
    served: list[str] = []
    target = function(aws, bucket=code_bucket(served=served))
    plan = target.plan_rollback()
    assert (plan.target, plan.current, plan.desired, plan.to_ref) == (
        f"lambda {FN} ($LATEST, no alias)", "$LATEST = version 3",
        "code of version 2 on $LATEST, published as a new version", "2")
    assert latest_code(aws) == latest_code(aws, "3")             # planning changed nothing
    lines: list[str] = []
    outcome = target.rollback(plan, progress=lines.append)
    assert (outcome.ok, outcome.summary) == (True, "published 4 = code of 2; $LATEST runs it")
    assert dict(outcome.details) == {"function": FN, "published": "4", "code_of": "2"}
    assert latest_code(aws) == latest_code(aws, "2") == latest_code(aws, "4") != latest_code(aws, "3")
    assert [u.split("/")[2] for u in served] == [CODE_HOST]      # downloaded once, from the version's Code.Location
    assert lines[0].startswith("Downloading the code of version 2 (")
    assert lines[-1] == "Published version 4 = code of 2."
    described = aws.seed("lambda").get_function_configuration(FunctionName=FN, Qualifier="4")["Description"]
    assert described == "opsbot rollback: code of version 2"
    # status now says which release runs; the next rollback goes to the release before 2, not back to 3
    assert function(aws).check()[0].summary.startswith("$LATEST = version 4 (code of 2), modified ")
    assert function(aws).plan_rollback().to_ref == "1"


def test_rollback_to_a_named_version_and_bad_names(aws):  # noqa: F811
    releases(aws, 3)
    target = function(aws)
    assert target.rollback(target.plan_rollback(to="v1"), progress=lambda _: None).summary == \
        "published 4 = code of 1; $LATEST runs it"
    with pytest.raises(TargetNotFoundError, match=r"no published version 9 \(latest published: 1, 2, 3, 4\)"):
        target.plan_rollback(to="9")
    with pytest.raises(NotPossibleError, match="already runs the code of version 1"):
        target.plan_rollback(to="1")


def test_nothing_earlier_to_roll_back_to(aws):  # noqa: F811
    releases(aws, 1)
    with pytest.raises(NotPossibleError, match=f"lambda {FN}: no published version before version 1 with other code"):
        function(aws).plan_rollback()


def test_apply_refuses_when_latest_changed_since_the_plan(aws):  # noqa: F811
    releases(aws, 3)
    target = function(aws)
    plan = target.plan_rollback()
    aws.seed("lambda").update_function_code(FunctionName=FN, ZipFile=zip_of("def handler(e, c):\n    return 9\n"))
    outcome = target.rollback(plan, progress=lambda _: None)
    assert (outcome.ok, outcome.summary) == (
        False, f"the code of lambda {FN} ($LATEST) changed since the plan; nothing was done")
    versions = aws.seed("lambda").list_versions_by_function(FunctionName=FN)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2", "3"]     # nothing published


def test_a_download_that_fails_changes_nothing_and_never_shows_the_url(aws):  # noqa: F811
    releases(aws, 2)
    before = latest_code(aws)
    with pytest.raises(AdapterError) as caught:
        target = function(aws, bucket=code_bucket(status=403))
        target.rollback(target.plan_rollback(), progress=lambda _: None)
    assert str(caught.value) == f"lambda {FN}: the code of version 1 could not be downloaded (HTTP 403)"
    assert CODE_HOST not in str(caught.value) and latest_code(aws) == before


def test_code_that_does_not_match_its_checksum_is_not_uploaded(aws):  # noqa: F811
    releases(aws, 2)
    before = latest_code(aws)
    tampered = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=b"PK-other")))
    target = function(aws, bucket=tampered)
    outcome = target.rollback(target.plan_rollback(), progress=lambda _: None)
    assert (outcome.ok, outcome.summary) == (
        False, "the downloaded code of version 1 does not match its checksum; nothing was changed")
    assert latest_code(aws) == before


def test_through_ops_the_mapping_is_on_the_card_and_in_the_audit_log(make_runtime, run_ops, aws):  # noqa: F811
    releases(aws, 3)
    cfg = {"integrations": {"aws": {}}, "services": [{"name": "weather-monitor", "lambda": {"function": FN}}]}
    rt = make_runtime(cfg, integrations=Integrations(rollback_targets={"weather-monitor": function(aws)}))
    proposal = run_ops(rt, "rollback weather-monitor", user="U0CAROL")
    assert "$LATEST = version 3  →  code of version 2 on $LATEST" in proposal.blocks[0].fields[1]
    assert run_ops(rt, f"confirm {proposal.card.key}").outcome == "confirmed"
    assert rt.operations.get(proposal.card.key).outcome == "published 4 = code of 2; $LATEST runs it"
    with rt.sessions() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (last.outcome, last.detail) == ("succeeded", "published 4 = code of 2; $LATEST runs it")


def test_an_unreachable_code_location_is_temporary(aws):  # noqa: F811
    releases(aws, 2)

    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    target = function(aws, bucket=client)
    with pytest.raises(UnreachableError, match="could not be downloaded \\(ConnectError\\)"):
        target.rollback(target.plan_rollback(), progress=lambda _: None)
