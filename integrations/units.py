"""Quantities for people, shared by adapters that import different SDKs (so neither imports the other's)."""
from __future__ import annotations


def size(n: float) -> str:
    """Bytes in powers of 1024, as Redis and Kubernetes count them: '512 B', '5.8 MiB', '860 MiB', '1.9 GiB'."""
    unit = "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            break
        n /= 1024
    return f"{n:.1f} {unit}" if unit != "B" and abs(n) < 10 else f"{n:.0f} {unit}"
