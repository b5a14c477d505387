"""Signing SNS messages exactly as SNS does, with our own key and a certificate served from loopback."""
from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from bot.alerts.sns import string_to_sign

TOPIC = "arn:aws:sns:us-east-1:123456789012:ops-alarms"


def _certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.us-east-1.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


class FakeSns:
    """Serves its signing certificate on 127.0.0.1 and signs messages like SNS (SignatureVersion 1 or 2)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = _certificate(self.key)
        self.cert_fetches = 0
        sns = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                sns.cert_fetches += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(pem)))
                self.end_headers()
                self.wfile.write(pem)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.cert_url = f"http://127.0.0.1:{self.server.server_address[1]}/SimpleNotificationService-test.pem"

    def sign(self, msg: dict[str, Any], *, version: str = "2", key: rsa.RSAPrivateKey | None = None) -> dict[str, Any]:
        msg = {**msg, "SignatureVersion": version, "SigningCertURL": msg.get("SigningCertURL", self.cert_url)}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = (key or self.key).sign(string_to_sign(msg), padding.PKCS1v15(), algorithm)
        return {**msg, "Signature": base64.b64encode(signature).decode()}

    def alarm(self, name: str, state: str = "ALARM", *, version: str = "2", subject: str | None = "ALARM",
              message_id: str | None = None, description: str = "", topic: str = TOPIC) -> dict[str, Any]:
        alarm = {"AlarmName": name, "AlarmDescription": description, "AWSAccountId": "123456789012",
                 "NewStateValue": state, "NewStateReason": "Threshold Crossed: 1 datapoint [7.0] > 5.0",
                 "Region": "US East (N. Virginia)", "OldStateValue": "OK",
                 "Trigger": {"MetricName": "Errors", "Namespace": "AWS/Lambda", "Threshold": 5.0}}
        msg = {"Type": "Notification", "MessageId": message_id or str(uuid.uuid4()), "TopicArn": topic,
               "Message": json.dumps(alarm), "Timestamp": "2026-11-23T03:00:00.000Z",
               "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"}
        if subject is not None:
            msg["Subject"] = f'{state}: "{name}" in US East (N. Virginia)'
        return self.sign(msg, version=version)

    def confirmation(self, subscribe_url: str, *, topic: str = TOPIC) -> dict[str, Any]:
        return self.sign({"Type": "SubscriptionConfirmation", "MessageId": str(uuid.uuid4()), "TopicArn": topic,
                          "Token": "tok-123", "Message": "You have chosen to subscribe…",
                          "SubscribeURL": subscribe_url, "Timestamp": "2026-11-23T03:00:00.000Z"})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
