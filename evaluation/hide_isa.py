"""Time an AVX2-only machine on an AVX-512 one: ``--hide-avx512`` re-runs a benchmark with AVX-512, its
VNNI and AMX hidden from every library in the process (evaluation/hide_isa.c through ``LD_PRELOAD``), so
ONNX Runtime, numpy and spaCy's BLIS pick the AVX2 kernels an AVX2-only CPU would run.

Linux's CPUID faulting does the hiding (``/proc/cpuinfo`` flag ``cpuid_fault``); the shim is compiled
with the C compiler here into evaluation/cache/. The rows it yields are a kernel-level stand-in for an
AVX2-only machine, not one: the caches, clock and memory stay this machine's, and they say so in their
machine kind (``... AVX2 (AVX-512 hidden)``), so they never replace a real AVX2 machine's rows.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from common import ROOT

logger = logging.getLogger("hide_isa")

SOURCE = Path(__file__).with_name("hide_isa.c")
CACHE = ROOT / "evaluation" / "cache"
HIDDEN = ("AVX-512", "AVX-512 VNNI", "AVX-VNNI", "AMX")
"""The :data:`stage2.runtime.cpu.FEATURES` names the shim hides."""
SUFFIX = " (AVX-512 hidden)"


def build(cache: Path = CACHE) -> Path:
    """The compiled shim in ``cache`` (built once per version of its source)."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    lib = cache / f"hide_isa-{digest}.so"
    if not lib.exists():
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise SystemExit("--hide-avx512 needs a C compiler (cc or gcc) to build evaluation/hide_isa.c")
        cache.mkdir(parents=True, exist_ok=True)
        part = lib.with_suffix(".so.part")
        subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(part), str(SOURCE)], check=True)
        part.replace(lib)
    return lib


def active() -> bool:
    """Whether this process runs with the shim loaded."""
    try:
        return "hide_isa-" in Path("/proc/self/maps").read_text()
    except OSError:
        return False


def relaunch(argv: Sequence[str]) -> None:
    """Run this script again (``argv``) with the shim preloaded, unless it already is; does not return then."""
    if active():
        return
    if "cpuid_fault" not in Path("/proc/cpuinfo").read_text():
        raise SystemExit("--hide-avx512: this machine has no CPUID faulting (cpuinfo flag cpuid_fault)")
    lib = build()
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(p for p in (str(lib), env.get("LD_PRELOAD", "")) if p)
    logger.info("re-running with AVX-512, VNNI and AMX hidden (%s)", lib.name)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *argv], env)


def visible(features: Sequence[str]) -> tuple[str, ...]:
    """The instruction sets the libraries of this process see (all of ``features`` without the shim)."""
    return tuple(f for f in features if not (active() and f in HIDDEN))


def kind(kind: str) -> str:
    """A row's machine kind, marked when the shim stood in for an AVX2-only machine."""
    return kind + SUFFIX if active() else kind
