"""lsg_tf.reporting.stats: intervals against published reference values and hand computations."""

import math

import numpy as np
import pytest

from lsg_tf.reporting import stats


def test_wilson_interval_matches_the_formula_and_a_reference_value():
    # 8/10 at 95%: (0.4902, 0.9433) (e.g. Newcombe 1998, Table I; Agresti & Coull 1998).
    low, high = stats.wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    z, n, p = 1.959964, 50, 0.3
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert stats.wilson_interval(15, 50) == pytest.approx(
        ((centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)), abs=1e-6)


def test_wilson_interval_at_the_edges_stays_in_unit_range():
    low, high = stats.wilson_interval(0, 20)
    assert low == pytest.approx(0.0, abs=1e-12) and 0 < high < 0.2
    low, high = stats.wilson_interval(20, 20)
    assert 0.8 < low < 1 and high == pytest.approx(1.0)


@pytest.mark.parametrize("successes, trials", [(-1, 10), (11, 10), (0, 0)])
def test_wilson_interval_rejects_impossible_counts(successes, trials):
    with pytest.raises(ValueError, match="wilson_interval needs"):
        stats.wilson_interval(successes, trials)


def test_newcombe_difference_matches_newcombe_1998_example():
    # Newcombe (1998), Stat. Med. 17:873, Table II, example (a): 56/70 − 48/80,
    # method 10 (hybrid score): 0.2000, 95% interval (0.0524, 0.3339).
    difference, low, high = stats.newcombe_difference(56, 70, 48, 80)
    assert difference == pytest.approx(0.2)
    assert low == pytest.approx(0.0524, abs=1e-4) and high == pytest.approx(0.3339, abs=1e-4)


def test_paired_bootstrap_covers_a_known_difference_with_the_expected_width():
    rng = np.random.default_rng(1)
    shared = rng.normal(size=4000)  # what both "models" share cancels in the pairs
    a = shared + 0.10 + rng.normal(scale=0.5, size=4000)
    b = shared + rng.normal(scale=0.5, size=4000)
    difference, low, high = stats.paired_bootstrap(a, b, resamples=1000, seed=0)
    assert low < 0.10 < high and low < difference < high
    expected_half = 1.96 * np.std(a - b) / math.sqrt(4000)  # normal theory for the mean
    assert (high - low) / 2 == pytest.approx(expected_half, rel=0.15)


def test_paired_bootstrap_is_seeded_and_rejects_unpaired_input():
    a, b = np.arange(10.0), np.arange(10.0)[::-1]
    assert stats.paired_bootstrap(a, b, seed=3) == stats.paired_bootstrap(a, b, seed=3)
    with pytest.raises(ValueError, match="one length"):
        stats.paired_bootstrap(a, b[:5])


@pytest.mark.parametrize("low, high, claim, verdict", [
    (0.01, 0.2, "higher", "reproduces"),
    (-0.2, -0.01, "higher", "does not reproduce"),
    (-0.1, 0.1, "higher", "inconclusive"),
    (-0.2, -0.01, "lower", "reproduces"),
    (0.01, 0.2, "lower", "does not reproduce"),
    (math.nan, math.nan, "lower", "inconclusive"),
])
def test_interval_verdict(low, high, claim, verdict):
    assert stats.interval_verdict(low, high, claim) == verdict
