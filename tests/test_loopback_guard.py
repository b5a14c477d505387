import socket

import pytest


def test_tests_cannot_reach_beyond_loopback():
    with socket.socket() as s, pytest.raises(OSError, match="only loopback is allowed"):
        s.connect(("192.0.2.10", 443))   # TEST-NET-1: never routed, and never tried
