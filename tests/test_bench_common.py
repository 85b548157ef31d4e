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
