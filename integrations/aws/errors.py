"""botocore's errors -> our AdapterError family, in one place (as httpx maps httpcore's).

Messages name the thing we asked about and AWS's error code, never AWS's message text: that text can
hold account ids, ARNs and policy details, and under some emulators whole response bodies.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.parsers import ResponseParserError

from integrations.base import (
    AccessDeniedError,
    AdapterError,
    NotPossibleError,
    TargetNotFoundError,
    ThrottledError,
    UnreachableError,
)

DENIED_PREFIXES = ("AccessDenied", "ExpiredToken", "UnrecognizedClient")
DENIED = {"UnauthorizedOperation", "InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure",
          "InvalidAccessKeyId", "RequestExpired", "MissingAuthenticationToken", "IncompleteSignature"}
THROTTLED = {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
             "RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
             "SlowDown", "PriorRequestNotComplete", "ProvisionedThroughputExceededException"}
NOT_FOUND = ("NotFound", "NonExistent", "DoesNotExist", "NoSuch")      # S3: NoSuchBucket, NoSuchKey
CONFLICT = {"PreconditionFailedException", "ResourceConflictException", "InvalidDBInstanceState",
            "InvalidDBInstanceStateFault"}
UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, BotoConnectionError, HTTPClientError)


def code_of(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def status_of(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def from_client_error(what: str, exc: ClientError) -> AdapterError:
    """The AdapterError for an error answer from AWS."""
    code, status = code_of(exc), status_of(exc)
    message = str(exc.response.get("Error", {}).get("Message", ""))
    shown = code if code and not code.isdigit() else f"HTTP {status}"
    if code in DENIED or code.startswith(DENIED_PREFIXES) or (code.isdigit() and status in (401, 403)):
        return AccessDeniedError(f"{what}: AWS credentials expired or not allowed ({shown})")
    if any(word in code for word in NOT_FOUND) or code == "ResourceNotFoundException" or (
            code == "ValidationError" and "does not exist" in message):
        return TargetNotFoundError(f"{what}: not found ({shown})")
    if code in THROTTLED:
        return ThrottledError(f"{what}: AWS is throttling our requests ({shown}); try again in a minute")
    if code in CONFLICT:
        return NotPossibleError(f"{what}: not possible in its current state ({shown})")
    return AdapterError(f"{what}: AWS answered with an error ({shown})")


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Run AWS calls; re-raise whatever botocore raises as an AdapterError that starts with `what`."""
    try:
        yield
    except ClientError as exc:
        raise from_client_error(what, exc) from exc
    except UNREACHABLE as exc:
        raise UnreachableError(f"{what}: AWS did not answer ({type(exc).__name__})") from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise AccessDeniedError(f"{what}: no AWS credentials found ({type(exc).__name__}); set AWS_PROFILE or "
                                "integrations.aws.profile, or give the bot an instance/task role") from exc
    except ProfileNotFound as exc:
        raise AccessDeniedError(f"{what}: the configured AWS profile does not exist; check integrations.aws.profile "
                                "or AWS_PROFILE") from exc
    except NoRegionError as exc:
        raise AdapterError(f"{what}: no AWS region; set integrations.aws.region or AWS_REGION") from exc
    except ResponseParserError as exc:
        raise AdapterError(f"{what}: AWS sent an answer we could not read") from exc
    except BotoCoreError as exc:
        raise AdapterError(f"{what}: AWS call failed ({type(exc).__name__})") from exc
