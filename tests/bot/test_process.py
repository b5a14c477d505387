"""The malloc arena cap `serve` and `socket` set before their threads start (bot.process)."""
import subprocess
import sys

import pytest

from bot.process import limit_malloc_arenas

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")


def test_the_cap_is_set_on_glibc_in_a_fresh_process():
    code = "from bot.process import limit_malloc_arenas; print(limit_malloc_arenas())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin"}, check=True).stdout.strip()
    assert out == "True"


def test_an_arena_count_from_the_environment_wins(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False
