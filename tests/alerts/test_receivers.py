"""Receivers are pure: bytes (and headers) in; out, per alert, an event or a rejection with its reason, or for a
delivery refused as a whole a BadPayloadError with a 4xx."""
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.alerts import alertmanager, model, sns, webhook
from bot.alerts.model import AlertEvent, BadPayloadError, Rejection
from bot.config.alerts import SnsSettings
from bot.config.services import Service
from tests.fakes.sns import TOPIC, FakeSns

LOOPBACK = SnsSettings(topics=(TOPIC,), cert_host_pattern=r"^127\.0\.0\.1$", cert_scheme="http")
SERVICES = (Service(name="weather-monitor", alarms=("weather-monitor-errors-production",)),)


@pytest.fixture(scope="module")
def fake_sns():
    fake = FakeSns()
    yield fake
    fake.close()


def parse_sns(msg, settings=LOOPBACK, certs=None):
    return sns.parse(json.dumps(msg).encode(), settings, certs or sns.CertificateCache(), SERVICES)


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("subject", [None, "ALARM"])
def test_signed_cloudwatch_alarm_is_parsed(fake_sns, version, subject):
    msg = fake_sns.alarm("weather-monitor-errors-production", version=version, subject=subject,
                         description="Lambda errors [P2]")
    parsed = parse_sns(msg)
    [event] = parsed.events
    assert (event.status, event.severity, event.service) == ("firing", "P2", "weather-monitor")
    assert event.title == "weather-monitor-errors-production" and "Threshold Crossed" in event.reason
    assert parsed.receipt == f"sns:{msg['MessageId']}"


def test_ok_state_resolves(fake_sns):
    assert parse_sns(fake_sns.alarm("x", state="OK")).events[0].status == "resolved"


@pytest.mark.parametrize("tamper, status", [
    (lambda m: {**m, "Message": m["Message"].replace("ALARM", "OK")}, 403),
    (lambda m: {**m, "Subject": "changed"}, 403),
    (lambda m: {**m, "TopicArn": "arn:aws:sns:us-east-1:999999999999:evil"}, 403),
    (lambda m: {**m, "SigningCertURL": "http://evil.example.com/cert.pem"}, 403),
    (lambda m: {**m, "SignatureVersion": "3"}, 400),
    (lambda m: {k: v for k, v in m.items() if k != "Signature"}, 400),
])
def test_forged_or_foreign_messages_are_refused(fake_sns, tamper, status):
    with pytest.raises(BadPayloadError) as err:
        parse_sns(tamper(fake_sns.alarm("x")))
    assert err.value.status == status


def test_a_different_key_does_not_verify(fake_sns):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    msg = fake_sns.alarm("x")
    forged = fake_sns.sign({k: v for k, v in msg.items() if k not in ("Signature",)}, key=other)
    with pytest.raises(BadPayloadError, match="does not verify"):
        parse_sns(forged)


def test_certificates_are_fetched_once(fake_sns):
    certs, before = sns.CertificateCache(), fake_sns.cert_fetches
    for _ in range(3):
        parse_sns(fake_sns.alarm("x"), certs=certs)
    assert fake_sns.cert_fetches - before == 1


def test_production_settings_refuse_a_loopback_certificate(fake_sns):
    with pytest.raises(BadPayloadError, match="not on an allowed SNS host"):
        parse_sns(fake_sns.alarm("x"), settings=SnsSettings(topics=(TOPIC,)))


def test_subscription_confirmation_returns_the_url(fake_sns):
    parsed = parse_sns(fake_sns.confirmation("http://127.0.0.1:1/confirm?Token=tok-123"))
    assert parsed.kind == "SubscriptionConfirmation" and parsed.events == []
    assert parsed.subscribe_url == "http://127.0.0.1:1/confirm?Token=tok-123"


AM = {"version": "4", "status": "firing", "receiver": "opsbot", "groupKey": "{}:{}", "alerts": [
    {"status": "firing", "fingerprint": "abc123",
     "labels": {"alertname": "HighErrorRate", "severity": "critical", "service": "backend"},
     "annotations": {"summary": "5xx above 5%", "runbook_url": "https://runbooks.example.com/5xx"}}]}


def test_alertmanager_alert():
    [event] = alertmanager.parse(json.dumps(AM).encode())
    assert (event.dedup_key, event.title, event.severity, event.service) == \
        ("am:abc123", "5xx above 5%", "critical", "backend")
    assert event.runbook_url == "https://runbooks.example.com/5xx"


@pytest.mark.parametrize("body, error", [
    (b"not json", "body is not JSON"), (b"[]", "no `alerts` list"), (b'{"version": "3", "alerts": [{}]}', "version 3"),
    (b'{"alerts": []}', "list is empty"), (b"\xff\xfe\x00", "not JSON"), (b"[" * 33 + b"]" * 33, "deeper than 32"),
])
def test_alertmanager_deliveries_refused_as_a_whole(body, error):
    with pytest.raises(BadPayloadError, match=error) as err:
        alertmanager.parse(body)
    assert err.value.status == 400


@pytest.mark.parametrize("alert, reason", [
    ({"status": "firing"}, "alerts[1] has neither fingerprint nor labels.alertname"),
    ({"fingerprint": "a"}, "alerts[1].status must be firing or resolved"),
    ("oops", "alerts[1] is not an object"),
    ({"fingerprint": "a", "status": "firing", "labels": {"service": {"name": "x"}}},
     "alerts[1].labels.service is an object, not text"),
    ({"fingerprint": "a", "status": "firing", "labels": {"severity": ["critical"]}},
     "alerts[1].labels.severity is a list, not text"),
    ({"fingerprint": "a", "status": "firing", "labels": "severity=critical"}, "alerts[1].labels is not an object"),
])
def test_an_invalid_alertmanager_alert_is_rejected_alone(alert, reason):
    good, bad = alertmanager.parse(json.dumps({"version": "4", "alerts": [AM["alerts"][0], alert]}).encode())
    assert isinstance(good, AlertEvent) and good.dedup_key == "am:abc123"
    assert isinstance(bad, Rejection) and (bad.index, bad.reason) == (1, reason)
    assert bad.excerpt.startswith(json.dumps(alert, separators=(",", ":"))[:20])


def test_strings_are_made_safe_and_numbers_become_text():
    alert = {"status": "firing", "fingerprint": "f\x00p", "labels": {"alertname": "A\ud800", "severity": 2,
                                                                     "k\x00ey": {"nested": True}, "on": True},
             "annotations": {"summary": "line1\r\nline2\tend\x07", "description": 0.5}}
    [event] = alertmanager.parse(json.dumps({"version": "4", "alerts": [alert]}).encode())
    assert (event.dedup_key, event.title, event.severity, event.reason) == \
        ("am:f\ufffdp", "line1\nline2\tend\ufffd", "2", "0.5")
    assert event.details == {"alertname": "A\ufffd", "severity": "2", "k\ufffdey": '{"nested":true}', "on": "true"}


def test_webhook_auth_by_token_or_hmac():
    body = b'{"dedup_key": "k", "title": "t"}'
    webhook.authenticate(body, {"authorization": "Bearer s3cret"}, token="s3cret", hmac_secret=None)
    sig = "sha256=" + hmac.new(b"key", body, hashlib.sha256).hexdigest()
    webhook.authenticate(body, {"x-opsbot-signature": sig}, token=None, hmac_secret="key")
    for headers in ({}, {"authorization": "Bearer nope"}, {"x-opsbot-signature": "sha256=00"}):
        with pytest.raises(BadPayloadError) as err:
            webhook.authenticate(body, headers, token="s3cret", hmac_secret="key")
        assert err.value.status == 401


def test_webhook_format():
    [event] = webhook.parse(json.dumps({"source": "uptime", "dedup_key": "api", "title": "API down",
                                        "severity": "critical", "service": "backend",
                                        "details": {"region": "eu"}}).encode())
    assert (event.dedup_key, event.status, event.details) == ("wh:uptime:api", "firing", {"region": "eu"})
    [rejected] = webhook.parse(b'{"dedup_key": "x"}')
    assert isinstance(rejected, Rejection) and rejected.reason == "alert 0 is missing title"
    with pytest.raises(BadPayloadError, match="between 1 and 500"):
        webhook.parse(json.dumps([{"dedup_key": "x", "title": "t"}] * 501).encode())


def test_webhook_receipt_is_the_idempotency_key_or_the_body_hash():
    body = b'{"dedup_key": "k", "title": "t"}'
    assert webhook.receipt(body, {"idempotency-key": " batch-7 "}) == "wh:key:batch-7"
    assert webhook.receipt(body, {}) == f"wh:{hashlib.sha256(body).hexdigest()}"


def test_a_non_ascii_credential_is_a_401_not_a_crash():
    with pytest.raises(BadPayloadError) as err:
        webhook.authenticate(b"{}", {"authorization": "Bearer s\xe9cret"}, token="s3cret", hmac_secret=None)
    assert err.value.status == 401


@pytest.mark.parametrize("body, depth", [(b'{"a": [1, {"b": []}]}', 4), (b'["[[[[", "\\"[[["]', 1),
                                         (b"[" * 32 + b"]" * 32, 32), (b"[" * 5000, 33), (b"", 0)])
def test_nesting_is_measured_outside_strings_and_stops_early(body, depth):
    assert model.nesting(body) == depth


def test_an_sns_message_nested_too_deeply_is_refused_before_its_signature_is_checked(fake_sns):
    before = fake_sns.cert_fetches
    with pytest.raises(BadPayloadError, match="nested deeper than 32"):
        sns.parse(b'{"Type": "Notification", "x": ' + b"[" * 5000, LOOPBACK, sns.CertificateCache(), SERVICES)
    assert fake_sns.cert_fetches == before


def test_an_sns_alarm_with_an_object_for_its_name_is_rejected(fake_sns):
    msg = fake_sns.alarm("x")
    inner = json.loads(msg["Message"])
    msg = fake_sns.sign({**{k: v for k, v in msg.items() if k != "Signature"},
                         "Message": json.dumps({**inner, "AlarmName": {"n": 1}})})
    parsed = parse_sns(msg)
    [rejected] = parsed.events
    assert isinstance(rejected, Rejection) and rejected.reason == "Message.AlarmName is an object, not text"
    assert parsed.receipt == f"sns:{msg['MessageId']}"


def test_an_sns_message_is_made_safe_after_its_signature_is_checked(fake_sns):
    msg = fake_sns.sign({"Type": "Notification", "MessageId": "m-1", "TopicArn": TOPIC, "Subject": "Disk\x00",
                         "Message": "disk\r\nfull\x00", "Timestamp": "2026-11-23T03:00:00.000Z"})
    [event] = parse_sns(msg).events                   # signed over the raw strings: it verifies
    assert (event.title, event.reason) == ("Disk\ufffd", "disk\nfull\ufffd")


def test_a_utf16_body_is_made_safe_too():
    alert = {**AM["alerts"][0], "annotations": {"summary": "5xx\x00"}}
    body = json.dumps({"version": "4", "alerts": [alert]}).encode("utf-16")
    [event] = alertmanager.parse(body)
    assert event.title == "5xx\ufffd"
