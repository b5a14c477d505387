"""/ops status against real HTTP endpoints on loopback, and the fan-out under it."""
import threading
import time

from bot.reply import Section
from integrations.fanout import MAX_IN_FLIGHT, THREAD_PREFIX, Late, gather


def _services(targets, *paths, timeout="2s"):
    return {"services": [{"name": name, "health": {"url": f"{targets.url}{path}", "timeout": timeout}}
                         for name, path in paths]}


def _text(reply):
    return "\n".join(b.text for b in reply.blocks if isinstance(b, Section))


def test_one_line_per_service_with_state_latency_and_reason(make_runtime, run_ops, health_targets):
    rt = make_runtime(_services(health_targets, ("backend", "/healthy"), ("payments", "/degraded"),
                                ("search", "/unhealthy"), ("legacy", "/plain")))
    reply = run_ops(rt, "status")
    text = _text(reply)
    assert reply.outcome == "ok" and not reply.ephemeral
    assert "1 down, 1 degraded, 2 ok* of 4" in text
    lines = {line.split("*")[1]: line for line in text.splitlines()[1:]}
    assert "— ok · HTTP 200 in" in lines["backend"] and " ms" in lines["backend"]
    assert "— degraded" in lines["payments"] and "database: disconnected" in lines["payments"]
    assert "— down" in lines["search"] and "status: unhealthy" in lines["search"]
    assert "expected 200" in lines["search"] and "no shards" in lines["search"]
    assert "— ok" in lines["legacy"]
    # worst first, so the eye lands on what is broken
    assert text.index("search") < text.index("payments") < text.index("backend")


def test_twenty_slow_services_are_checked_concurrently(make_runtime, run_ops, health_targets):
    rt = make_runtime(_services(health_targets, *[(f"svc-{i:02d}", "/slow?s=1") for i in range(20)]))
    started = time.monotonic()
    reply = run_ops(rt, "status")
    elapsed = time.monotonic() - started
    text = _text(reply)
    assert all(f"*svc-{i:02d}* — ok" in text for i in range(20)), text
    assert "All 20 service(s) OK" in text
    assert elapsed < 2.0, f"20 one-second checks took {elapsed:.2f}s: they did not run concurrently"


def test_timeout_and_refused_connection_are_reasons_not_errors(make_runtime, run_ops, health_targets):
    cfg = _services(health_targets, ("slowpoke", "/slow?s=3"), timeout="300ms")
    cfg["services"].append({"name": "gone", "health": {"url": "http://127.0.0.1:9/health", "timeout": "1s"}})
    rt = make_runtime(cfg)
    started = time.monotonic()
    text = _text(run_ops(rt, "status"))
    assert time.monotonic() - started < 2.5
    assert "*slowpoke* — down · no answer within 0s" in text or "*slowpoke* — down · no answer within" in text
    assert "*gone* — down · connection refused" in text


def test_a_redirect_is_followed_to_the_answer(make_runtime, run_ops, health_targets):
    rt = make_runtime(_services(health_targets, ("moved", "/moved")))
    text = _text(run_ops(rt, "status"))
    assert "*moved* — ok · HTTP 200 in" in text, text


def test_overlapping_runs_of_one_check_do_not_wait_for_each_other(make_runtime, health_targets):
    """Two people asking at once (or /ops status beside a checklist): each check has its own connection
    pool, which must let a few of its own requests run together."""
    rt = make_runtime(_services(health_targets, ("slow", "/slow?s=1")))
    (check,) = rt.integrations.status_sources["slow"]
    started = time.monotonic()
    results = gather({str(i): check.check for i in range(3)}, deadline_s=10)
    elapsed = time.monotonic() - started
    assert all(f.health.value == "ok" for findings in results.values() for f in findings), results
    assert elapsed < 1.9, f"three overlapping one-second checks took {elapsed:.2f}s: they queued"


def test_one_service_by_name(make_runtime, run_ops, health_targets):
    rt = make_runtime(_services(health_targets, ("backend", "/healthy"), ("search", "/unhealthy")))
    text = _text(run_ops(rt, "status backend"))
    assert "*backend*" in text and "search" not in text


def test_unknown_service_suggests_the_close_one(make_runtime, run_ops, health_targets):
    rt = make_runtime(_services(health_targets, ("backend", "/healthy")))
    reply = run_ops(rt, "status backnd")
    assert reply.ephemeral and reply.outcome == "not_found"
    assert "Did you mean `backend`?" in reply.text


def test_no_services_configured_says_where_to_add_them(make_runtime, run_ops):
    reply = run_ops(make_runtime(), "status")
    assert "services:" in reply.text


def test_a_hundred_checks_are_all_in_flight_at_once():
    """Each call waits until all 100 have started: a fan-out narrower than 100 breaks the barrier."""
    barrier = threading.Barrier(100, timeout=30)
    results = gather({f"svc-{i}": lambda: barrier.wait() >= 0 for i in range(100)}, deadline_s=60)
    assert results == {f"svc-{i}": True for i in range(100)}


def _io_threads():
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def test_a_wider_fan_out_queues_beyond_the_bound_and_never_grows_the_threads_past_it():
    for _ in range(3):
        results = gather({str(i): lambda: threading.current_thread().name for i in range(2 * MAX_IN_FLIGHT)},
                         deadline_s=60)
        names = set(results.values())
        assert len(results) == 2 * MAX_IN_FLIGHT and all(n.startswith(THREAD_PREFIX) for n in names)
        assert len(names) <= MAX_IN_FLIGHT
        assert len(_io_threads()) <= MAX_IN_FLIGHT


def test_a_call_past_the_deadline_is_late_and_the_others_still_answer():
    release = threading.Event()
    try:
        results = gather({"stuck": lambda: release.wait(30), "quick": lambda: "ok"}, deadline_s=0.2)
    finally:
        release.set()
    assert results["quick"] == "ok"
    assert results["stuck"] == Late("stuck", 0.2)
