"""evaluation/hide_isa.py: AVX-512 hidden from a process by CPUID faulting (the AVX2 stand-in rows)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
import hide_isa

CPUINFO = Path("/proc/cpuinfo")
pytestmark = pytest.mark.skipif(
    not (CPUINFO.exists() and "cpuid_fault" in CPUINFO.read_text() and (shutil.which("cc") or shutil.which("gcc"))),
    reason="needs Linux CPUID faulting and a C compiler",
)

PROBE = """
import sys
sys.path.insert(0, {evaluation!r})
import hide_isa
from numpy._core._multiarray_umath import __cpu_features__ as f
print(f["AVX2"], f["AVX512F"], f["AVX512VNNI"], hide_isa.active(), hide_isa.kind("x86_64 AVX2"),
      hide_isa.visible(["AVX2", "AVX-512", "AVX-512 VNNI"]))
"""


def _run(code: str, lib: Path | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if lib is not None:
        env["LD_PRELOAD"] = str(lib)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_the_shim_hides_avx512_from_numpy_and_marks_the_rows(tmp_path):
    lib = hide_isa.build(tmp_path)
    assert hide_isa.build(tmp_path) == lib  # built once per source version
    code = PROBE.format(evaluation=str(Path(hide_isa.__file__).parent))
    hidden = _run(code, lib)
    assert hidden.returncode == 0, hidden.stderr
    assert hidden.stdout.split()[:4] == ["True", "False", "False", "True"]
    assert "x86_64 AVX2 (AVX-512 hidden)" in hidden.stdout and "('AVX2',)" in hidden.stdout
    plain = _run(code, None)
    assert plain.stdout.split()[3] == "False"  # without the shim nothing is hidden or marked
    assert "('AVX2', 'AVX-512', 'AVX-512 VNNI')" in plain.stdout


def test_a_real_segmentation_fault_still_kills_the_process(tmp_path):
    crashed = _run("import ctypes; ctypes.string_at(0)", hide_isa.build(tmp_path))
    assert crashed.returncode == -11  # SIGSEGV, not swallowed or turned into a loop by the CPUID handler
