"""Lambda releases on moto, and the bucket a version's `Code.Location` points at.

On AWS, `get_function(Qualifier=N)["Code"]["Location"]` is a presigned S3 URL for that version's .zip. moto
answers with an `https://awslambda-<region>-tasks.s3...amazonaws.com/<key>` URL that nothing serves, and its
published versions share one `code` dict with $LATEST (a shallow copy), so every version reports $LATEST's key.
`release()` gives each published version its own key on moto's in-process model (as `Aws.set_environment` sets
what moto hardcodes), and `code_bucket()` is an httpx client whose transport serves each key's bytes from moto,
as S3 serves a presigned URL: the adapter's own download code runs, and nothing leaves the machine.
"""
from __future__ import annotations

import contextlib
import io
import zipfile
from typing import Any
from urllib.parse import urlsplit

import httpx
from moto.awslambda.models import lambda_backends
from moto.core.models import DEFAULT_ACCOUNT_ID

from tests.fakes.aws import LAMBDA_ROLE, REGION, TRUST, Aws

CODE_HOST = f"awslambda-{REGION}-tasks.s3.{REGION}.amazonaws.com"


def zip_of(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", source)
    return buf.getvalue()


def _functions() -> dict[str, Any]:
    return lambda_backends[DEFAULT_ACCOUNT_ID][REGION]._lambdas._functions


def release(aws: Aws, name: str, source: str) -> str:
    """Deploy `source` to $LATEST (creating the function the first time) and publish it; the new version number."""
    lam = aws.seed("lambda")
    if name not in _functions():
        iam = aws.seed("iam")
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument=TRUST)
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=LAMBDA_ROLE, Handler="app.handler",
                            Code={"ZipFile": zip_of(source)})
    else:
        lam.update_function_code(FunctionName=name, ZipFile=zip_of(source))
    version = str(lam.publish_version(FunctionName=name)["Version"])
    published = _functions()[name]["versions"][-1]
    published.code = dict(published.code)          # its own key, not $LATEST's (moto shares the dict)
    return version


def code_bucket(*, served: list[str] | None = None, status: int = 200) -> httpx.Client:
    """An httpx client that answers GET https://CODE_HOST/<key> with the .zip moto holds under that key; each
    URL asked for is appended to `served`."""

    def handle(request: httpx.Request) -> httpx.Response:
        if served is not None:
            served.append(str(request.url))
        key = urlsplit(str(request.url)).path.lstrip("/")
        if request.url.host != CODE_HOST or status != 200:
            return httpx.Response(status if status != 200 else 403)
        for fn in _functions().values():
            for candidate in [fn["latest"], *fn["versions"]]:
                if candidate.code.get("S3Key") == key:
                    return httpx.Response(200, content=candidate.code_bytes)
        return httpx.Response(404)

    return httpx.Client(transport=httpx.MockTransport(handle))
