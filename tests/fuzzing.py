"""Seeded fuzz inputs for `opsbot serve`, each signed the way its sender signs it.

Five families: `/ops` commands and button clicks (signed with Slack's signing secret, form-encoded as Slack
sends them), the generic webhook (bearer token), Alertmanager v4 (unauthenticated, as Alertmanager sends)
and SNS notifications (signed with tests.fakes.sns's key; its certificate is served on loopback).
Each input names its family and the shape of its mutation, so an answer can be counted and replayed;
the same seed gives the same inputs (only the signatures' timestamps differ).

Commands use the real command table's words; buttons use the real ActionIds. Strings are mutated with
NUL, lone surrogates (in JSON as `\\ud800` escapes; in Slack's form encoding as the bytes %ED%A0%80, the way
a UTF-8 encoder that lets surrogates pass would carry them), control characters, 10-100 KB texts, emoji,
quotes and mentions; JSON fields also get dicts, lists, numbers, booleans, null and deep nesting.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from bot.reply import ActionId
from tests.fakes.sns import TOPIC, FakeSns
from tests.slackreq import SECRET

WEBHOOK_TOKEN = "fuzz-webhook-token"
TOKEN_ENV = "OPSBOT_FUZZ_WEBHOOK_TOKEN"
WEIGHTS = {"command": 30, "button": 25, "webhook": 15, "alertmanager": 15, "sns": 15}
DEEP = '"__deep__"'                    # replaced by [[[…]]] after json.dumps, which cannot nest that deep
CONFIG: dict[str, Any] = {
    "channels": {"default": "C0ONCALL", "alerts": "C0ALERTS"},
    "integrations": {"aws": {}},
    "services": [{"name": "backend"}, {"name": "payments", "alarms": ["payments-errors"]}],
    "alerts": {"sns": {"topics": [TOPIC], "cert_host_pattern": r"^127\.0\.0\.1$", "cert_scheme": "http"},
               "webhook": {"token_env": TOKEN_ENV}},
    "oncall": {"rotations": [{"name": "primary", "members": ["U0ALICE", "U0BOB"], "start": "2026-11-02 09:00"}]},
    "checklists": {"morning": {"title": "Morning", "checks": [{"check": "manual", "text": "Look at the graphs"}]}},
}

NASTY: dict[str, Callable[[random.Random], str]] = {
    "nul": lambda r: r.choice(["\x00", "a\x00b", "\x00" * 5, "backend\x00"]),
    "surrogate": lambda r: r.choice(["\ud800", "x\udfffy", "\udc80\ud83d", "\ud83d"]),
    "control": lambda r: "".join(chr(r.randrange(1, 32)) for _ in range(r.randrange(1, 9))) + "\x7f\x1b[2J",
    "huge": lambda r: r.choice("xé🔥 \"'") * r.randrange(10_000, 100_001),
    "emoji": lambda r: r.choice(["🔥", "👩‍👩‍👧‍👦", "🏳️‍🌈", "🇩🇪" * 20, "e\u0301" * 40]),
    "quotes": lambda r: r.choice(['"', "'", "“unbalanced", "`", '"a" "b', "\\", "''\"\""]),
    "mention": lambda r: r.choice(["<@U0ALICE>", "<@U123|bob>", "<!channel>", "<!here>", "<#C0X|x>", "<@>", "<@U"]),
    "digits": lambda r: r.choice(["²", "١٢", "9" * 30, "-1", "0x10", "1e9", "#2147483648", "4294967296", "0"]),
    "format": lambda r: r.choice(["{value}", "%s%n%x", "{0}", "${HOME}", "$(id)"]),
    "invisible": lambda r: r.choice(["\u202e", "\u200b", "\ufeff", "\u2028", "\xa0"]),
    "sql": lambda r: r.choice(["'; DROP TABLE audit_log; --", "1 OR 1=1", "\\'"]),
    "whitespace": lambda r: r.choice(["", " ", "\n", "\r\n\t", "   \n  "]),
}


def nasty_text(rng: random.Random) -> tuple[str, str]:
    shape = rng.choice(list(NASTY))
    return shape, NASTY[shape](rng)


def nasty_value(rng: random.Random) -> tuple[str, Any]:
    """A value where a JSON string belongs: a nasty string, or another JSON type."""
    other: dict[str, Any] = {"dict": {"a": "b"}, "list": ["x", 1], "int": -7, "bigint": 10**30, "float": 1.5,
                             "bool": True, "null": None, "deep": "__deep__"}
    if rng.random() < 0.6:
        return nasty_text(rng)
    shape = rng.choice(list(other))
    return shape, other[shape]


@dataclass(frozen=True, slots=True)
class FuzzInput:
    family: str                       # command | button | webhook | alertmanager | sns
    shape: str                        # what was mutated, e.g. "text:nul", "action_id:type", "labels.service:dict"
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    note: str = ""                    # what a Slack input carries (the command line, the payload), for reading
    audited: bool = False             # the bot must write an audit row for it (a command; a well-formed click)

    def describe(self, limit: int = 120) -> str:
        """One line to replay from: family, shape, path and the start of what was sent."""
        return f"{self.family} {self.shape} {self.path} {(self.note or self.body)[:limit]!r}"


def slack_headers(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": f"v0={digest}"}


def deep_json(text: str, rng: random.Random) -> str:
    depth = rng.choice([50, 5000, 100_000])
    return text.replace(DEEP, "[" * depth + "]" * depth)


def put(doc: Any, path: str, value: Any) -> None:
    """Set `a.b.c` in nested dicts (a missing or non-dict step is replaced by a dict)."""
    *steps, last = path.split(".")
    for step in steps:
        if not isinstance(doc.get(step), dict):
            doc[step] = {}
        doc = doc[step]
    doc[last] = value


RAW_BODIES: dict[str, Callable[[random.Random], bytes]] = {
    "not-json": lambda r: r.choice([b"{not json", b"", b"null", b"42", b'"x"', b"[]", b"{}", b"NaN"]),
    "invalid-utf8": lambda r: b'{"title": "\xff\xfe\xed\xa0\x80"}',
    "raw-control": lambda r: b'{"title": "a\x00b\x01"}',
    "deep": lambda r: b"[" * r.choice([1000, 5000, 100_000]) + b"]" * 10,
    "deep-object": lambda r: b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "huge-body": lambda r: b'{"title": "' + b"x" * r.choice([1_000_001, 1_500_000]) + b'"}',
    "bigint": lambda r: b'{"alerts": [' + b"9" * 5000 + b"]}",
}
BUTTON_BREAKS: dict[str, Callable[[dict[str, Any], random.Random], Any]] = {
    "not-json": lambda p, r: r.choice(["{not json", "", "null", "[1, 2]", '"x"', "{}"]),
    "no-actions": lambda p, r: {k: v for k, v in p.items() if k != "actions"},
    "actions-type": lambda p, r: {**p, "actions": r.choice([[], "x", {}, [None], ["x"], 5])},
    "no-action-id": lambda p, r: {**p, "actions": [{k: v for k, v in p["actions"][0].items() if k != "action_id"}]},
    "action-id-type": lambda p, r: {**p, "actions": [{**p["actions"][0], "action_id": r.choice([5, {}, None, []])}]},
    "unknown-action-id": lambda p, r: {**p, "actions": [{**p["actions"][0], "action_id": "nope.nope"}]},
    "no-value": lambda p, r: {**p, "actions": [{k: v for k, v in p["actions"][0].items() if k != "value"}]},
    "user-type": lambda p, r: {**p, "user": r.choice(["U0ALICE", None, {"id": {}}, {"id": None}, [], {}])},
    "container-type": lambda p, r: {**p, "container": r.choice(["x", [], None, {"message_ts": {}}]),
                                    "channel": r.choice(["C1", [], None, {"id": 5}])},
    "type": lambda p, r: {**p, "type": r.choice(["view_submission", "shortcut", "message_action",
                                                 "block_suggestion", "", 5, None])},
    "no-trigger": lambda p, r: {k: v for k, v in p.items() if k != "trigger_id"},
}


class Fuzzer:
    """`next()` gives one signed input; `take(n)` gives n. Slack inputs are signed when made: send them soon."""

    def __init__(self, seed: int, *, sns: FakeSns, response_url: str,
                 families: tuple[str, ...] = tuple(WEIGHTS)) -> None:
        self.rng, self.seed, self.sns, self.response_url = random.Random(seed), seed, sns, response_url
        self.families = families
        self._serial = itertools.count(1)
        self.names, self.words = command_words()
        self._make: dict[str, Callable[[], FuzzInput]] = {
            "command": self.command, "button": self.button, "webhook": self.webhook,
            "alertmanager": self.alertmanager, "sns": self.sns_notification}

    def take(self, n: int) -> Iterator[FuzzInput]:
        for _ in range(n):
            yield self.next()

    def next(self) -> FuzzInput:
        family = self.rng.choices(self.families, [WEIGHTS[f] for f in self.families])[0]
        return self._make[family]()

    # Slack: commands and clicks

    def command(self) -> FuzzInput:
        r = self.rng
        parts = [r.choice(self.names) if r.random() < 0.9 else r.choice(self.words)]
        parts += [r.choice(self.words) for _ in range(r.randrange(0, 4))]
        shape = "words"
        if r.random() < 0.7:
            shape, nasty = nasty_text(r)
            if r.random() < 0.7:
                parts.insert(r.randrange(0, len(parts) + 1), nasty)
            else:
                parts[-1] += nasty                                  # glued to a word: `ack 1\x00`
        shape, text = f"text:{shape}", " ".join(parts)
        fields = self._slack_fields("cmd") | {"command": "/ops", "text": text}
        if r.random() < 0.05:
            name, vshape = r.choice(["user_id", "channel_id", "user_name"]), r.choice(["nul", "surrogate", "huge"])
            fields[name], shape = NASTY[vshape](r), f"{name}:{vshape}"
        return self._form(fields, shape, "command", note=text, audited=True)

    def button(self) -> FuzzInput:
        r = self.rng
        common = self._slack_fields("btn")
        value_shape, value = ("id", str(r.randrange(1, 6))) if r.random() < 0.4 else nasty_value(r)
        user = {"id": common["user_id"], "username": "x", "team_id": "T111"}
        payload: dict[str, Any] = {
            "type": "block_actions", "user": user, "api_app_id": "A111", "token": "legacy-unused",
            "team": {"id": "T111", "domain": "test"}, "trigger_id": common["trigger_id"],
            "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C0ONCALL",
                          "is_ephemeral": False},
            "channel": {"id": "C0ONCALL", "name": "oncall"}, "response_url": common["response_url"],
            "message": {"ts": "1700000000.000001", "text": "card", "blocks": []},
            "actions": [{"type": "button", "action_id": r.choice([a.value for a in ActionId]), "block_id": "b1",
                         "value": value, "text": {"type": "plain_text", "text": "x"},
                         "action_ts": "1700000001.000001"}]}
        shape, doc = f"value:{value_shape}", payload
        if r.random() < 0.5:
            shape = r.choice(list(BUTTON_BREAKS))
            doc = BUTTON_BREAKS[shape](payload, r)
        raw = doc if isinstance(doc, str) else deep_json(json.dumps(doc), r)
        if r.random() < 0.03:
            return self._form({"nothing": "here"}, "no-payload", "button")
        audited = shape.startswith("value:") and shape != "value:deep"        # Bolt can parse it: a real click
        return self._form({"payload": raw}, shape, "button", note=raw, audited=audited)

    def _slack_fields(self, prefix: str) -> dict[str, str]:
        n = next(self._serial)
        return {"token": "legacy-unused", "team_id": "T111", "team_domain": "test", "channel_id": "C0ONCALL",
                "channel_name": "oncall", "user_id": self.rng.choice(["U0ALICE", "U0BOB", "U0EVE"]),
                "user_name": "fuzz", "api_app_id": "A111", "is_enterprise_install": "false",
                "response_url": f"{self.response_url}/{prefix}-{n}", "trigger_id": f"{n}.{self.seed}.fuzz"}

    @staticmethod
    def _form(fields: dict[str, str], shape: str, family: str, *, note: str = "", audited: bool = False) -> FuzzInput:
        body = urlencode(fields, errors="surrogatepass").encode()
        return FuzzInput(family, shape, "/slack/events", body, slack_headers(body), note=note, audited=audited)

    # The receivers

    def _mutated(self, doc: dict[str, Any], paths: list[str]) -> str:
        path = self.rng.choice(paths)
        vshape, value = nasty_value(self.rng)
        put(doc, path, value)
        return f"{path}:{vshape}"

    def _raw(self, family: str, path: str, headers: dict[str, str]) -> FuzzInput:
        shape = self.rng.choice(list(RAW_BODIES))
        return FuzzInput(family, f"body:{shape}", path, RAW_BODIES[shape](self.rng), headers)

    def webhook(self) -> FuzzInput:
        r = self.rng
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {WEBHOOK_TOKEN}"}
        if r.random() < 0.15:
            return self._raw("webhook", "/alerts/webhook", headers)
        items = [self._webhook_item() for _ in range(r.choice([1, 1, 1, 3, 20]))]
        shape = "valid"
        if r.random() < 0.85:
            shape = self._mutated(r.choice(items), ["dedup_key", "title", "severity", "status", "service",
                                                    "source", "details", "details.region", "runbook_url", "reason"])
        doc: Any = items if len(items) > 1 or r.random() < 0.2 else items[0]
        if r.random() < 0.03:
            headers.pop("Authorization")
            shape += ",no-token"
        return FuzzInput("webhook", shape, "/alerts/webhook", deep_json(json.dumps(doc), r).encode(), headers)

    def _webhook_item(self) -> dict[str, Any]:
        r = self.rng
        return {"source": "fuzz", "dedup_key": f"k{r.randrange(40)}", "title": "disk full",
                "severity": r.choice(["critical", "warning", "info", "P2"]), "status": r.choice(["firing", "resolved"]),
                "service": r.choice(["backend", "payments", "unknown"]), "details": {"region": "eu"},
                "runbook_url": "https://runbooks.example.com/disk"}

    def alertmanager(self) -> FuzzInput:
        r = self.rng
        headers = {"Content-Type": "application/json"}
        if r.random() < 0.15:
            return self._raw("alertmanager", "/alerts/alertmanager", headers)
        alerts = [self._am_alert() for _ in range(r.choice([1, 1, 2, 5, 50]))]
        doc: dict[str, Any] = {"version": "4", "status": "firing", "receiver": "opsbot", "groupKey": "{}:{}",
                               "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                               "externalURL": "http://alertmanager.example.com", "alerts": alerts}
        shape = "valid"
        if r.random() < 0.85:
            if r.random() < 0.15:
                shape = "doc." + self._mutated(doc, ["version", "alerts", "status"])
            else:
                shape = self._mutated(r.choice(alerts), [
                    "status", "fingerprint", "labels", "labels.alertname", "labels.severity", "labels.service",
                    "labels.job", "labels.instance", "annotations", "annotations.summary",
                    "annotations.description", "annotations.runbook_url", "startsAt"])
        return FuzzInput("alertmanager", shape, "/alerts/alertmanager", deep_json(json.dumps(doc), r).encode(),
                         headers)

    def _am_alert(self) -> dict[str, Any]:
        r, k = self.rng, self.rng.randrange(40)
        return {"status": r.choice(["firing", "resolved"]), "fingerprint": f"{k:016x}",
                "labels": {"alertname": f"Alert{k}", "severity": r.choice(["critical", "warning", "info"]),
                           "service": r.choice(["backend", "payments"]), "instance": "10.0.0.1:9100"},
                "annotations": {"summary": f"alert {k} fired", "description": "more than 5% errors",
                                "runbook_url": "https://runbooks.example.com/5xx"},
                "startsAt": "2026-11-23T03:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example.com/graph"}

    def sns_notification(self) -> FuzzInput:
        r = self.rng
        headers = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}
        if r.random() < 0.15:
            return self._raw("sns", "/alerts/sns", headers)
        k = r.randrange(40)
        alarm: dict[str, Any] = {
            "AlarmName": r.choice([f"alarm-{k}", "payments-errors"]), "AlarmDescription": "[P2] errors",
            "AWSAccountId": "123456789012", "NewStateValue": r.choice(["ALARM", "OK", "INSUFFICIENT_DATA"]),
            "NewStateReason": "Threshold Crossed", "Region": "US East (N. Virginia)", "OldStateValue": "OK",
            "Trigger": {"MetricName": "Errors", "Namespace": "AWS/Lambda", "Threshold": 5.0}}
        msg: dict[str, Any] = {"Type": "Notification", "MessageId": f"{self.seed}-{next(self._serial)}",
                               "TopicArn": TOPIC, "Subject": f"ALARM: alarm-{k}", "Timestamp": "2026-11-23T03:00:00Z",
                               "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"}
        shape = "valid"
        if r.random() < 0.85:
            if r.random() < 0.7:
                shape = "Message." + self._mutated(alarm, ["AlarmName", "AlarmDescription", "NewStateValue",
                                                           "NewStateReason", "Trigger", "Trigger.MetricName",
                                                           "AlarmArn", "Region", "AWSAccountId"])
            else:
                shape = self._mutated(msg, ["Subject", "MessageId", "Message", "Timestamp"])
        msg.setdefault("Message", deep_json(json.dumps(alarm), r))
        signed = sign_sns(self.sns, msg)
        if r.random() < 0.03:
            signed["Signature"] = signed["Signature"][::-1]
            shape += ",bad-signature"
        return FuzzInput("sns", shape, "/alerts/sns", deep_json(json.dumps(signed), r).encode(), headers)


def sign_sns(sns: FakeSns, msg: dict[str, Any]) -> dict[str, Any]:
    """FakeSns.sign, but lone surrogates are signed as the bytes a lenient encoder would send."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from bot.alerts.sns import NOTIFICATION_FIELDS

    msg = {**msg, "SignatureVersion": "2", "SigningCertURL": sns.cert_url}
    data = "".join(f"{k}\n{msg[k]}\n" for k in NOTIFICATION_FIELDS if k in msg and msg[k] is not None)
    signature = sns.key.sign(data.encode("utf-8", "surrogatepass"), padding.PKCS1v15(), hashes.SHA256())
    return {**msg, "Signature": base64.b64encode(signature).decode()}


def command_words() -> tuple[list[str], list[str]]:
    """The subcommand names, and every other word the command table's usage lines mention (plus some)."""
    import commands

    names = [c.name for c in commands.SUBCOMMANDS]
    words: set[str] = set()
    for command in commands.SUBCOMMANDS:
        for usage in (command.usage, *command.more_usage):
            words.update(re.findall(r"--[a-z-]+|\b[A-Za-z][a-z0-9]*\b", usage.replace("/ops", "")))
    words.update(["1", "2", "#1", "999999999", "1h", "30m", "99999999999w", "0.5s", "2026-11-23", "9999-12-31",
                  "<@U0ALICE>", "backend", "payments", "primary", "morning", "weekly", "abc123", "1.1", "2.1"])
    return names, sorted(words)
