"""Emulated cloud APIs for the adapter tests."""
from tests.fakes.kube import kube  # noqa: F401  (fixture)
