"""Emulated cloud APIs for the adapter tests."""
from tests.fakes.kube import kube  # noqa: F401  (fixture)
from tests.fakes.moto_aws import aws, moto_url  # noqa: F401  (fixtures)
