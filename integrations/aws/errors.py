"""botocore errors -> our AdapterError family, in one place (as httpx maps httpcore's)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
    ReadTimeoutError,
)

from integrations.base import AccessDeniedError, AdapterError, TargetNotFoundError, UnreachableError

DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "ExpiredToken",
          "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
          "SignatureDoesNotMatch", "AuthFailure", "InvalidAccessKeyId", "RequestExpired")


def code_of(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        code = code_of(exc)
        if code in DENIED:
            raise AccessDeniedError(f"{what}: AWS credentials expired or not allowed ({code})") from exc
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if "NotFound" in code or code == "ResourceNotFoundException" or "does not exist" in message:
            raise TargetNotFoundError(f"{what}: not found ({code})") from exc
        raise AdapterError(f"{what}: AWS answered {code or 'an error'}") from exc
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError) as exc:
        raise UnreachableError(f"{what}: AWS did not answer ({type(exc).__name__})") from exc
    except (NoCredentialsError, ProfileNotFound) as exc:
        raise AccessDeniedError(f"{what}: no usable AWS credentials ({type(exc).__name__})") from exc
    except NoRegionError as exc:
        raise AdapterError(f"{what}: no AWS region (set integrations.aws.region or AWS_REGION)") from exc
    except BotoCoreError as exc:
        raise AdapterError(f"{what}: AWS call failed ({type(exc).__name__})") from exc
