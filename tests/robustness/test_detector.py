import numpy as np
import pytest
from conftest import tiny_backbone

from lsg_tf.core import features
from lsg_tf.core.model import LSGModel
from lsg_tf.robustness import detector


def _split(shift, n=300, dim=6, seed=0):
    """n normal rows N(0, 1) and n 'adversarial' rows N(shift, 1) for train and for test."""
    rng = np.random.default_rng(seed)

    def part():
        x = np.concatenate([rng.normal(0, 1, (n, dim)), rng.normal(shift, 1, (n, dim))])
        return x.astype(np.float32), np.r_[np.zeros(n), np.ones(n)]

    return part(), part()


def test_detector_separates_an_obvious_shift():
    (x, y), (x_test, y_test) = _split(shift=3.0)
    det = detector.RandomForestDetector(n_estimators=50, random_state=0)
    det.fit(x, y)
    report, is_adv = det.detect(x_test)
    assert report["scores"].shape == (600,) and is_adv.dtype == bool
    np.testing.assert_array_equal(is_adv, report["scores"] >= 0.5)
    assert detector.roc_auc(y_test, report["scores"]) > 0.99
    assert np.mean(is_adv == y_test.astype(bool)) > 0.95


def test_detector_is_at_chance_on_identical_distributions():
    (x, y), (x_test, y_test) = _split(shift=0.0, n=400)
    det = detector.RandomForestDetector(n_estimators=50, random_state=0)
    det.fit(x, y)
    auc = detector.roc_auc(y_test, det.detect(x_test)[0]["scores"])
    assert abs(auc - 0.5) < 0.06


def test_detector_on_images_uses_conv_layer_features():
    model = LSGModel(tiny_backbone(filters=4), 3)
    rng = np.random.default_rng(0)
    clean = rng.uniform(0, 0.5, (60, 8, 8, 1)).astype(np.float32)
    shifted = np.clip(clean + 0.4, 0, 1)
    det = detector.RandomForestDetector(detector.conv_feature_extractor(model, batch_size=16),
                                        n_estimators=20)
    det.fit(np.concatenate([clean[:40], shifted[:40]]), np.r_[np.zeros(40), np.ones(40)])
    report, _ = det.detect(np.concatenate([clean[40:], shifted[40:]]))
    assert detector.roc_auc(np.r_[np.zeros(20), np.ones(20)], report["scores"]) > 0.95


def test_detector_inputs_give_every_view_and_the_classifier():
    model = LSGModel(tiny_backbone(filters=4), 3)
    images = np.random.default_rng(1).uniform(0, 1, (5, 8, 8, 1)).astype(np.float32)
    extract, readout = detector.detector_inputs(model, batch_size=2, baselines=("kd_bu",))
    views = extract(images)
    # Batches of 2 against one batch of 5: the same sums, rounded in another order.
    np.testing.assert_allclose(views["conv"], features.conv_layer_features(model, images),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(views["penultimate"], features.pooled_features(model, images),
                               atol=1e-6)
    assert readout["layer_widths"] == [4]
    np.testing.assert_allclose(views["penultimate"] @ readout["kernel"] + readout["bias"],
                               model(images).numpy(), atol=1e-5)
    extract, _ = detector.detector_inputs(model, baselines=("lid",))
    assert list(extract(images)) == ["conv"]  # LID reads the conv features only


def test_roc_curve_runs_from_zero_to_one():
    fpr, tpr = detector.roc_curve(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9]))
    assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    # hand-derived: pairs (adv, normal) ranked correctly: (0.4>0.1), (0.9>0.1), (0.9>0.6) = 3/4
    assert detector.roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])) == 0.75


@pytest.mark.parametrize("kwargs, message", [
    ({"n_estimators": 0}, "n_estimators must be an integer >= 1"),
    ({"max_depth": 0}, "max_depth must be None or an integer >= 1"),
    ({"threshold": 1.5}, r"threshold must be in \[0, 1\]"),
    ({"feature_fn": "conv"}, "feature_fn must be callable or None"),
])
def test_detector_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        detector.RandomForestDetector(**kwargs)


def test_detector_rejects_bad_use():
    det = detector.RandomForestDetector(n_estimators=5)
    x = np.random.default_rng(0).normal(size=(10, 3))
    y = np.r_[np.zeros(5), np.ones(5)]
    with pytest.raises(ValueError, match="not fitted"):
        det.detect(x)
    with pytest.raises(ValueError, match=r"y must hold 0 \(normal\) or 1"):
        det.fit(x, y * 2)
    with pytest.raises(ValueError, match="both normal"):
        det.fit(x, np.zeros(10))
    with pytest.raises(ValueError, match="y has 9 labels for 10 inputs"):
        det.fit(x, y[:9])
    with pytest.raises(ValueError, match="unknown fit argument"):
        det.fit(x, y, class_weight="balanced")
    with pytest.raises(ValueError, match=r"shape \[N, D\]"):
        det.fit(x[:, :, None], y)
    det.fit(x, y)
    with pytest.raises(ValueError, match="fitted on 3"):
        det.detect(x[:, :2])
    with pytest.raises(ValueError, match="unknown detector parameter"):
        det.set_params(trees=3)
    det.set_params(threshold=0.9)
    assert det.get_params()["threshold"] == 0.9
