"""Receivers are pure: bytes (and headers) in, alert events or a BadPayloadError with a 4xx out."""
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.alerts import alertmanager, sns, webhook
from bot.alerts.model import BadPayloadError
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
    [event] = parse_sns(msg).events
    assert (event.status, event.severity, event.service) == ("firing", "P2", "weather-monitor")
    assert event.title == "weather-monitor-errors-production" and "Threshold Crossed" in event.reason
    assert event.receipt == f"sns:{msg['MessageId']}"


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


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"version": "3", "alerts": []}',
                                  b'{"alerts": [{"status": "firing"}]}', b'{"alerts": [{"fingerprint": "a"}]}'])
def test_alertmanager_bad_payloads(body):
    with pytest.raises(BadPayloadError):
        alertmanager.parse(body)


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
    with pytest.raises(BadPayloadError, match="missing title"):
        webhook.parse(b'{"dedup_key": "x"}')
