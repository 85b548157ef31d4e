import numpy as np
import pytest

from lsg_tf.robustness.protocol import (
    DetectionProtocol,
    run_detection,
    run_detectors,
    sample_pool,
    split_pool,
)


def _pool_labels(per_class, classes=3):
    return np.repeat(np.arange(classes), per_class)


def test_split_pool_gives_disjoint_nested_stratified_sets():
    protocol = DetectionProtocol(train_per_class=(2, 5), test_per_class=3)
    labels = _pool_labels(9)
    train, test = split_pool(labels, protocol, seed=0)
    assert np.bincount(labels[test]).tolist() == [3, 3, 3]
    assert np.bincount(labels[train[2]]).tolist() == [2, 2, 2]
    assert np.bincount(labels[train[5]]).tolist() == [5, 5, 5]
    assert not set(test) & set(train[5])
    assert set(train[2]) <= set(train[5])
    again, _ = split_pool(labels, protocol, seed=0)
    np.testing.assert_array_equal(again[5], train[5])
    other, other_test = split_pool(labels, protocol, seed=1)
    assert not np.array_equal(np.sort(other_test), np.sort(test))


def test_sample_pool_is_stratified_and_names_a_small_class():
    labels = np.r_[np.zeros(10), np.ones(10), np.full(3, 2)].astype(int)
    pool = sample_pool(labels, 3, 3, seed=0)
    assert np.bincount(labels[pool]).tolist() == [3, 3, 3]
    assert np.all(np.diff(pool) > 0)
    with pytest.raises(ValueError, match="class 2 has 3 images, fewer than the 4 per class"):
        sample_pool(labels, 4, 3, seed=0)


def _features(shift, per_class=12, classes=3, dim=5, seed=0):
    rng = np.random.default_rng(seed)
    n = per_class * classes
    clean = rng.normal(0, 1, (n, dim))
    return clean, rng.normal(shift, 1, (n, dim)), _pool_labels(per_class, classes)


def test_run_detection_separates_a_shift_and_is_near_chance_without_one():
    protocol = DetectionProtocol(train_per_class=(4, 8), test_per_class=4, repeats=3,
                                 n_estimators=30)
    clean, adv, labels = _features(shift=4.0)
    result = run_detection(clean, adv, labels, protocol)
    assert result["train_per_class"] == [4, 8] and result["repeats"] == 3
    for n in (4, 8):
        assert len(result["auc"][n]) == 3
        assert result["mean_auc"][n] > 0.98
        assert result["std_auc"][n] == pytest.approx(np.std(result["auc"][n]))
        fpr, tpr = result["roc"][n]
        assert fpr[0] == 0 and tpr[-1] == 1
    protocol = DetectionProtocol(train_per_class=(60,), test_per_class=60, repeats=2,
                                 n_estimators=30)
    clean, adv, labels = _features(shift=0.0, per_class=120)
    same = run_detection(clean, adv, labels, protocol)
    assert abs(same["mean_auc"][60] - 0.5) < 0.1


@pytest.mark.parametrize("kwargs, message", [
    ({"train_per_class": ()}, "train_per_class must be integers >= 1"),
    ({"train_per_class": (0, 5)}, "train_per_class must be integers >= 1"),
    ({"test_per_class": 0}, "test_per_class must be an integer >= 1"),
    ({"repeats": 0}, "repeats must be an integer >= 1"),
    ({"n_estimators": 0}, "n_estimators must be an integer >= 1"),
    ({"pool_per_class": 50}, r"pool_per_class=50 is smaller than .* = 1100"),
    ({"baselines": ("lid", "svm")}, r"baselines must be distinct names of \['mahalanobis', "
                                    r"'lid', 'kd_bu'\], got \['lid', 'svm'\]"),
    ({"baselines": ("lid", "lid")}, "baselines must be distinct names"),
    ({"train_per_class": (1, 5)}, r"train_per_class must be >= 2 with baselines .* got \[1, 5\]"),
])
def test_detection_protocol_rejects_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DetectionProtocol(**kwargs)


def test_run_detection_rejects_mismatched_inputs():
    protocol = DetectionProtocol(train_per_class=(2,), test_per_class=2)
    clean, adv, labels = _features(shift=1.0, per_class=4)
    with pytest.raises(ValueError, match="share one"):
        run_detection(clean, adv[:, :3], labels, protocol)
    with pytest.raises(ValueError, match="pool labels"):
        run_detection(clean, adv, labels[:5], protocol)
    with pytest.raises(ValueError, match="protocol needs 5"):
        run_detection(clean, adv, labels, DetectionProtocol(train_per_class=(3,),
                                                            test_per_class=2))


def _views(shift, per_class=12, classes=3, seed=0):
    """Pool features by view: conv [P, 5] (two layers, widths 2 and 3), penultimate [P, 4]
    around class means; the PGD versions moved ``shift`` off them."""
    rng = np.random.default_rng(seed)
    labels = _pool_labels(per_class, classes)
    means = 3.0 * np.eye(classes, 4)
    clean = {"conv": rng.normal(0, 1, (len(labels), 5)),
             "penultimate": means[labels] + rng.normal(0, 1, (len(labels), 4))}
    adv = {"conv": clean["conv"] + shift, "penultimate": clean["penultimate"] + shift}
    options = {"layer_widths": [2, 3], "kernel": means.T, "bias": -0.5 * np.sum(means ** 2, 1)}
    return clean, adv, labels, options


def test_run_detectors_adds_the_baselines_on_the_random_forests_splits():
    protocol = DetectionProtocol(train_per_class=(4, 8), test_per_class=4, repeats=2,
                                 n_estimators=30)
    clean, adv, labels, options = _views(shift=4.0)
    result = run_detectors(clean, adv, labels, protocol, options, resamples=200)
    forest = run_detection(clean["conv"], adv["conv"], labels, protocol)
    assert result["mean_auc"] == forest["mean_auc"]  # the random forest's keys, unchanged
    assert list(result["detectors"]) == ["random_forest", "mahalanobis", "lid", "kd_bu"]
    for name, detected in result["detectors"].items():
        assert set(detected) == {"auc", "mean_auc", "std_auc", "interval"}
        for n in (4, 8):
            assert len(detected["auc"][n]) == 2
            low, high = detected["interval"][n]
            assert low <= detected["mean_auc"][n] <= high
            assert detected["mean_auc"][n] > 0.9, (name, n)
            scores = result["detector_scores"][name][n]
            assert len(scores) == 2 and scores[0].shape == (2 * 4 * 3,)
    assert result["detectors"]["random_forest"]["auc"] == forest["auc"]


def test_run_detectors_needs_the_views_its_baselines_read():
    protocol = DetectionProtocol(train_per_class=(2,), test_per_class=2, baselines=("lid",))
    clean, adv, labels, options = _views(shift=1.0, per_class=4)
    result = run_detectors({"conv": clean["conv"]}, {"conv": adv["conv"]}, labels, protocol,
                           options, resamples=100)
    assert list(result["detectors"]) == ["random_forest", "lid"]
    protocol = DetectionProtocol(train_per_class=(2,), test_per_class=2)
    with pytest.raises(ValueError, match=r"lack the view\(s\) \['penultimate'\]"):
        run_detectors({"conv": clean["conv"]}, {"conv": adv["conv"]}, labels, protocol,
                      options)
