"""bench/common.py: A/B alternation order, warm-up, medians and ratio."""

import pytest

from bench import common


def test_alternate_runs_warmup_then_a_b_in_turn():
    calls = []
    seconds = iter([9.0, 9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])

    def side(name):
        def run():
            calls.append(name)
            return next(seconds)
        return run

    comparison = common.alternate("a", side("a"), "b", side("b"), repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert comparison.seconds_a == [1.0, 3.0, 5.0] and comparison.seconds_b == [2.0, 4.0, 6.0]
    assert comparison.median_a == 3.0 and comparison.median_b == 4.0
    assert comparison.ratio == pytest.approx(0.75)


def test_alternate_uses_wall_time_when_run_returns_none():
    comparison = common.alternate("a", lambda: None, "b", lambda: 0.5, repeats=2, warmup=0)
    assert all(0 <= s < 0.1 for s in comparison.seconds_a)
    assert comparison.seconds_b == [0.5, 0.5]


def test_alternate_rejects_bad_counts():
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        common.alternate("a", lambda: 1, "b", lambda: 1, repeats=0)


def test_report_prints_ratio_line(capsys):
    comparison = common.Comparison("a", "b", [2.0], [4.0])
    text = common.report("title", comparison, "≤ 1.0")
    assert "ratio a / b = 0.500  (goal: ≤ 1.0)" in text
    assert text.startswith("== title\nmachine: ") and "cores" in text
    assert capsys.readouterr().out.strip() == text


@pytest.mark.parametrize("flags, level", [
    ({"sse2", "avx", "avx2", "avx512f", "amx_tile"}, "AMX"),
    ({"sse2", "avx", "avx2", "avx512f"}, "AVX-512"),
    ({"sse2", "avx", "avx2", "fma"}, "AVX2"),
    ({"sse2", "avx"}, "AVX"),
    ({"sse2"}, "SSE"),
    (set(), "unknown"),
])
def test_simd_level_is_the_widest_flag(flags, level):
    assert common.simd_level(flags) == level


def test_kernel_settings_name_the_isa_cap_and_onednn_switch():
    capped = common.kernel_settings({"ONEDNN_MAX_CPU_ISA": "AVX2", "TF_ENABLE_ONEDNN_OPTS": "0",
                                     "OMP_NUM_THREADS": "2"})
    assert "oneDNN ISA cap: ONEDNN_MAX_CPU_ISA=AVX2" in capped
    assert "oneDNN ops: TF_ENABLE_ONEDNN_OPTS=0" in capped and "OMP_NUM_THREADS=2" in capped
    plain = common.kernel_settings({})
    assert "oneDNN ISA cap: none" in plain and "oneDNN ops: default (on)" in plain
    assert "threads: default" in plain


def test_report_header_names_this_machines_simd_level(capsys):
    text = common.report("title", common.Comparison("a", "b", [1.0], [1.0]), "-")
    machine = text.splitlines()[1]
    assert f"SIMD: {common.simd_level(common.cpu_flags())}" in machine
    assert "intra/inter-op threads" in machine


def test_shared_arguments_check_their_values(capsys):
    parser = common.arguments("Title.\n\nMore.", repeats=4, threads=None)
    args = parser.parse_args([])
    assert (args.repeats, args.warmup, args.threads, args.smoke) == (4, 1, None, False)
    assert parser.description == "Title."
    for bad in (["--repeats=0"], ["--warmup=-1"], ["--threads=x"]):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(bad)
        assert exit_info.value.code == 2
        assert "must be" in capsys.readouterr().err
    bare = common.arguments("T", repeats=None, warmup=None, smoke=None)
    assert not {"repeats", "warmup", "smoke"} & set(vars(bare.parse_args([])))
