"""Requests exactly as Slack sends them: form-encoded, signed with the app's signing secret."""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

SECRET = "test-signing-secret"
_trigger = itertools.count(1)


def signed_headers(body: str | bytes, *, secret: str = SECRET, ts: float | None = None, **extra: str) -> dict[str, str]:
    """Slack's headers for `body`; bytes (a body that is not UTF-8) are signed exactly as sent."""
    stamp = str(int(time.time() if ts is None else ts))
    if isinstance(body, bytes):
        digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        signature = f"v0={digest}"
    else:
        signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body) or ""
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature, **extra}


def slash_body(text: str, *, response_url: str, user: str = "U0ALICE", channel: str = "C0ONCALL",
               trigger_id: str | None = None) -> str:
    return urlencode({
        "token": "legacy-unused", "team_id": "T111", "team_domain": "test", "channel_id": channel,
        "channel_name": "oncall", "user_id": user, "user_name": user.lower(), "command": "/ops", "text": text,
        "api_app_id": "A111", "is_enterprise_install": "false", "response_url": response_url,
        "trigger_id": trigger_id or f"{next(_trigger)}.111.abc",
    })


def action_body(action_id: str, value: str, *, response_url: str, user: str = "U0ALICE",
                channel: str = "C0ONCALL", message_ts: str = "1700000000.000001") -> str:
    payload: dict[str, Any] = {
        "type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": "T111"},
        "api_app_id": "A111", "token": "legacy-unused", "team": {"id": "T111", "domain": "test"},
        "trigger_id": f"{next(_trigger)}.222.def",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
        "channel": {"id": channel, "name": "oncall"}, "response_url": response_url,
        "message": {"ts": message_ts, "text": "card", "blocks": []},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                     "text": {"type": "plain_text", "text": "x"}, "action_ts": "1700000001.000001"}],
    }
    return urlencode({"payload": json.dumps(payload)})
