from __future__ import annotations

from stage2.runtime.cpu import cpu_features, cpu_kind, parse_flags


def test_flags_name_the_instruction_sets_that_change_int8_speed():
    avx2_only = "processor : 0\nflags\t\t: fpu sse4_2 avx avx2 fma\n"
    assert parse_flags(avx2_only) == ["AVX2"]
    sapphire = "flags : avx2 avx512f avx512_vnni avx_vnni amx_int8 amx_tile\nflags : ignored\n"
    assert parse_flags(sapphire) == ["AVX2", "AVX-512", "AVX-512 VNNI", "AVX-VNNI", "AMX"]
    assert parse_flags("no flags line here") == []


def test_this_machine_has_a_kind():
    assert cpu_kind().split()[-1] in {"AVX2", "AVX-512", "VNNI", "AMX"} or "no AVX2" in cpu_kind()
    assert all(f in {"AVX2", "AVX-512", "AVX-512 VNNI", "AVX-VNNI", "AMX"} for f in cpu_features())
