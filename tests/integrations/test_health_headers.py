"""Health checks that send headers (the Supabase REST check: `apikey: {secret: SUPABASE_ANON_KEY}`), on a
service's `health:` and on a checklist's `check: http` with its own `url:`, against a loopback server that
accepts only the right key. The key's value never shows in what the bot answers."""
import json

import pytest

from schedules.checklists import get_run, run_checklist
from tests.fakes.recording_http import RecordingHttp

KEY = "eyJhbGciOiJIUzI1NiJ9.anon-key-for-tests.c2lnbmF0dXJl"


@pytest.fixture
def supabase():
    server = RecordingHttp(apikey=KEY)
    yield server
    server.close()


def config(url):
    headers = {"apikey": {"secret": "SUPABASE_ANON_KEY"}, "Accept-Profile": "public"}
    return {
        "services": [{"name": "supabase", "health": {"url": f"{url}/guarded", "headers": headers}},
                     {"name": "supabase-nokey", "health": {"url": f"{url}/guarded"}}],
        "checklists": {"morning": {"checks": [
            {"check": "http", "url": f"{url}/guarded", "headers": headers},
            {"check": "http", "url": f"{url}/guarded", "expect_status": 401},
            {"check": "http", "service": "supabase"}]}},
    }


def test_a_service_health_check_sends_its_headers_and_status_never_shows_the_key(
        make_runtime, run_ops, supabase, monkeypatch):
    monkeypatch.setenv("SUPABASE_ANON_KEY", KEY)
    rt = make_runtime(config(supabase.url))
    reply = run_ops(rt, "status supabase")
    assert "HTTP 200" in reply.text, reply.text
    sent = supabase.requests[0]
    assert sent.headers["apikey"] == KEY and sent.headers["accept-profile"] == "public"
    without = run_ops(rt, "status supabase-nokey")
    assert "HTTP 401" in without.text and "expected 200" in without.text
    everything = json.dumps([reply.text, repr(reply.blocks), without.text, repr(without.blocks)])
    assert KEY not in everything


def test_a_missing_secret_is_said_and_nothing_is_sent(make_runtime, run_ops, supabase, monkeypatch):
    monkeypatch.delenv("SUPABASE_ANON_KEY", raising=False)
    rt = make_runtime(config(supabase.url))
    reply = run_ops(rt, "status supabase")
    assert "not asked: the secret in environment variable SUPABASE_ANON_KEY is not set" in reply.text, reply.text
    assert supabase.requests == []


def test_a_checklist_http_check_with_its_own_url_sends_headers(make_runtime, supabase, monkeypatch):
    monkeypatch.setenv("SUPABASE_ANON_KEY", KEY)
    rt = make_runtime(config(supabase.url))
    run_id = run_checklist(rt, "morning", scheduled_for=rt.clock(), trigger="manual", requested_by="U0ALICE")
    report = get_run(rt, run_id)
    got = [(i.kind, i.label, i.result) for i in report.items]
    assert got == [("http", f"{supabase.url}/guarded", "ok"), ("http", f"{supabase.url}/guarded", "ok"),
                   ("http", "supabase", "ok")]
    assert [r.headers.get("apikey") for r in supabase.requests].count(KEY) == 2     # the keyless check sent none
    assert KEY not in json.dumps([(i.label, i.reason, i.details) for i in report.items])
