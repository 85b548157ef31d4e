"""lsg_tf.robustness.intervals and lsg_tf.robustness.radii: known answers."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lsg_tf.reporting import stats
from lsg_tf.robustness import intervals, radii


def test_rank_auc_equals_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    negatives = rng.integers(0, 5, 40).astype(float)  # many ties
    positives = rng.integers(2, 7, 30).astype(float)
    expected = roc_auc_score(np.r_[np.zeros(40), np.ones(30)], np.r_[negatives, positives])
    assert intervals.rank_auc(negatives, positives) == pytest.approx(expected)
    assert intervals.rank_auc([0.1, 0.2], [0.3, 0.4]) == 1.0
    assert intervals.rank_auc([0.5], [0.5]) == 0.5
    with pytest.raises(ValueError, match="at least one negative"):
        intervals.rank_auc([], [1.0])


def _repeat(rng, t, separation):
    return np.r_[rng.normal(size=t), rng.normal(loc=separation, size=t)]


def test_auc_difference_separates_a_clearly_better_detector_and_not_an_equal_one():
    rng = np.random.default_rng(1)
    strong = [_repeat(rng, 300, 2.0) for _ in range(3)]
    weak = [_repeat(rng, 300, 0.5) for _ in range(3)]
    difference, low, high = intervals.auc_difference(strong, weak, resamples=200)
    # AUC of two unit normals d apart: Φ(d / √2): 0.921 and 0.638
    assert difference == pytest.approx(0.921 - 0.638, abs=0.04)
    assert 0 < low < difference < high
    same, low, high = intervals.auc_difference(strong, strong, resamples=200)
    assert same == 0 and low == high == 0  # identical scores: every resample differs by 0
    with pytest.raises(ValueError, match="one score array per repeat"):
        intervals.auc_difference(strong, weak[:2])


def test_resampled_auc_equals_rank_auc_of_the_resampled_pairs():
    rng = np.random.default_rng(3)
    t = 40
    scores = rng.integers(0, 6, 2 * t).astype(float)  # many ties, within and across halves
    auc = intervals._ResampledAUC(scores, t)
    for _ in range(20):
        index = rng.integers(0, t, t)
        assert auc(index) == pytest.approx(
            intervals.rank_auc(scores[:t][index], scores[t:][index]), abs=1e-12)
    assert auc(np.arange(t)) == pytest.approx(intervals.rank_auc(scores[:t], scores[t:]))


def test_auc_interval_holds_the_mean_auc_and_narrows_with_more_images():
    rng = np.random.default_rng(4)
    small = [_repeat(rng, 50, 1.0) for _ in range(3)]
    large = [_repeat(rng, 800, 1.0) for _ in range(3)]
    mean, low, high = intervals.auc_interval(small, resamples=300)
    assert mean == pytest.approx(np.mean([intervals.rank_auc(s[:50], s[50:]) for s in small]))
    assert low < mean < high
    _, low_large, high_large = intervals.auc_interval(large, resamples=300)
    # AUC of two unit normals 1 apart: Φ(1/√2) = 0.760; the width shrinks like 1/√T
    assert low_large < 0.760 < high_large
    assert (high_large - low_large) < (high - low) / 2
    with pytest.raises(ValueError, match="T clean then T adversarial"):
        intervals.auc_interval([np.zeros(5)])


def test_bootstrap_interval_of_a_mean_matches_normal_theory():
    rng = np.random.default_rng(2)
    values = rng.normal(loc=1.0, scale=2.0, size=2000)
    point, low, high = stats.bootstrap_interval(lambda i: values[i].mean(), len(values),
                                                resamples=1000)
    assert point == pytest.approx(values.mean())
    half = 1.96 * values.std() / np.sqrt(len(values))
    assert (high - low) / 2 == pytest.approx(half, rel=0.15)
    with pytest.raises(ValueError, match="size >= 2"):
        stats.bootstrap_interval(lambda i: 0.0, 1)


def test_comparisons_use_newcombe_for_success_rates_and_read_the_paper_direction():
    def run(name, scheme, successes, attempts):
        return {"name": name, "scheme": scheme, "clean_accuracy": 0.5,
                "arrays": {"correct": np.r_[np.ones(50), np.zeros(50)].astype(bool)},
                "pixel": {"successes": successes, "attempts": attempts}}

    results = {"runs": [run("std", "std", 60, 100), run("lsg", "joint", 10, 100)]}
    pixel = next(c for c in intervals.comparisons(results, resamples=100)
                 if c["metric"] == "pixel")
    expected = stats.newcombe_difference(10, 100, 60, 100)
    assert (pixel["difference"], pixel["low"], pixel["high"]) == pytest.approx(expected)
    assert pixel["claim"] == "lower" and pixel["verdict"] == "reproduces"
    assert intervals.comparisons({"runs": results["runs"][1:]}) == []  # no STD run


@pytest.mark.parametrize("text, value", [("8/255", 8 / 255), ("0.3", 0.3), (" 1/255", 1 / 255)])
def test_parse_eps_and_label_round_trip(text, value):
    assert radii.parse_eps(text) == pytest.approx(value)
    assert radii.parse_eps(radii.eps_label(value)) == pytest.approx(value)


@pytest.mark.parametrize("text", ["eight", "1/0", "-0.1", "0"])
def test_parse_eps_rejects_bad_text(text):
    with pytest.raises(ValueError, match="ε must be"):
        radii.parse_eps(text)


@pytest.mark.parametrize("text", ["5", "1.0001", "300/255", "inf", "-inf", "nan", "1e400",
                                  "inf/inf"])
def test_parse_eps_refuses_radii_outside_the_image_range(text):
    with pytest.raises(ValueError, match=rf"ε must be in \(0, 1\] \(images are in \[0, 1\]\), "
                                         rf"got '{text}'"):
        radii.parse_eps(text)
    assert radii.parse_eps("1") == 1.0 and radii.check_eps(0.5) == 0.5


def test_eps_labels_of_the_sweep():
    assert [radii.eps_label(e) for e in radii.EPS_SWEEP] == ["1/255", "2/255", "4/255",
                                                             "8/255", "0.3"]
    assert radii.scaled_step(0.3, 40) == pytest.approx(0.01875)
