"""How a health response is judged: status code first, then what a JSON body says about itself."""
import json

import pytest

from integrations.base import Health
from integrations.http import judge


@pytest.mark.parametrize("status, body, health, reason", [
    (200, {"status": "healthy", "database": "connected"}, Health.OK, ""),
    (200, {"status": "ok", "message": "all good", "version": "1.4.2"}, Health.OK, ""),
    (200, {"status": "healthy", "database": "disconnected"}, Health.DEGRADED, "database: disconnected"),
    (200, {"database": "down", "cache": "up"}, Health.DEGRADED, "database: down"),
    (200, {"status": "degraded", "message": "replica lag"}, Health.DEGRADED, "status: degraded, message: replica lag"),
    (200, {"status": "unhealthy"}, Health.DOWN, "status: unhealthy"),
    (503, {"status": "unhealthy", "reason": "no shards"}, Health.DOWN,
     "expected 200; status: unhealthy, reason: no shards"),
    (500, "Internal Server Error", Health.DOWN, "expected 200"),
    (200, "OK", Health.OK, ""),
    (200, [1, 2, 3], Health.OK, ""),
])
def test_judge(status, body, health, reason):
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    assert judge(status, raw, expect_status=200) == (health, reason)


def test_expected_status_other_than_200():
    assert judge(204, b"", expect_status=204) == (Health.OK, "")
    assert judge(200, b"", expect_status=204)[0] is Health.DOWN
