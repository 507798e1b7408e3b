"""What this CPU can do for int8 and float32 inference: the instruction sets that decide which kernels
ONNX Runtime runs (AVX2, AVX-512, the int8 dot products VNNI and AMX), read from ``/proc/cpuinfo``.

Speed figures depend on them (the same int8 export against spaCy measured 0.87x on an AVX2-only machine
and 1.26x on one with AVX-512 VNNI), so every speed row names them, and a loader can choose a graph by them.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Sequence
from pathlib import Path

FEATURES = (
    ("avx2", "AVX2"),
    ("avx512f", "AVX-512"),
    ("avx512_vnni", "AVX-512 VNNI"),
    ("avx_vnni", "AVX-VNNI"),
    ("amx_int8", "AMX"),
)
"""``/proc/cpuinfo`` flag -> the name rows use, for the instruction sets that change int8/float32 speed."""


def parse_flags(cpuinfo: str) -> list[str]:
    """The :data:`FEATURES` names present in the text of a ``/proc/cpuinfo`` (its first ``flags`` line).

    >>> parse_flags("flags : fpu avx2 avx512f avx512_vnni")
    ['AVX2', 'AVX-512', 'AVX-512 VNNI']
    """
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return [name for flag, name in FEATURES if flag in flags]
    return []


@functools.lru_cache(maxsize=1)
def cpu_features() -> tuple[str, ...]:
    """This machine's :data:`FEATURES`, by name (empty where ``/proc/cpuinfo`` cannot be read, e.g. macOS)."""
    try:
        return tuple(parse_flags(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return ()


def cpu_kind(features: Sequence[str] | None = None) -> str:
    """A short name of this machine's kind for speed rows: the widest vector unit and the int8 dot products,
    e.g. ``"x86_64 AVX-512 + AVX-512 VNNI"`` or ``"x86_64 AVX2"`` (of ``features``, default this machine's).

    >>> cpu_kind(["AVX2"]).split()[-1]
    'AVX2'
    """
    features = cpu_features() if features is None else features
    vector = "AVX-512" if "AVX-512" in features else "AVX2" if "AVX2" in features else "no AVX2"
    dots = [f for f in ("AVX-512 VNNI", "AVX-VNNI", "AMX") if f in features]
    return f"{platform.machine()} {vector}" + (" + " + " + ".join(dots) if dots else "")
