"""Emulated cloud APIs for the adapter tests."""
from tests.fakes.aws import aws, moto_server  # noqa: F401  (fixtures)
from tests.fakes.kube import kube  # noqa: F401  (fixture)
