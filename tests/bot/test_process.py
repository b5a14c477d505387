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


# After a large buffer is freed glibc raises its mmap threshold to that size, so the next buffer that large
# comes from the heap (and stays resident once freed). With the threshold fixed it is mapped, and unmapped
# when freed: mallinfo2's hblkhd (bytes in mapped blocks) counts it while it lives.
MAPPED = """
import ctypes, sys
FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS.split()]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
if sys.argv[1] == "capped":
    from bot.process import limit_malloc_arenas
    assert limit_malloc_arenas()
first = bytearray(4 << 20)
del first                                  # freed: raises glibc's threshold unless it is fixed
second = bytearray(1 << 20)
print(libc.mallinfo2().hblkhd >= 1 << 20)
"""


@pytest.mark.parametrize("mode, mapped", [("capped", "True"), ("default", "False")])
def test_large_buffers_stay_mapped_once_the_threshold_is_fixed(mode, mapped):
    out = subprocess.run([sys.executable, "-c", MAPPED, mode], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}, check=True).stdout.strip()
    assert out == mapped
