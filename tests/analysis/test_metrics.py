import numpy as np
import pytest

from lsg_tf.analysis import metrics, phi


def test_cross_entropy_matches_hand_value():
    # Row 0: logits (0, log 3) -> p(label 1) = 3/4; row 1: uniform over 2 -> 1/2.
    logits = np.array([[0.0, np.log(3.0)], [5.0, 5.0]])
    expected = -(np.log(0.75) + np.log(0.5)) / 2
    assert metrics.cross_entropy(logits, [1, 0]) == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_is_stable_for_large_logits():
    assert metrics.cross_entropy(np.array([[1000.0, 0.0]]), [0]) == pytest.approx(0.0, abs=1e-12)
    assert metrics.cross_entropy(np.array([[1000.0, 0.0]]), [1]) == pytest.approx(1000.0)


def test_accuracy_confusion_and_recall():
    logits = np.eye(3)[[0, 1, 1, 2, 0]]
    labels = np.array([0, 1, 2, 2, 0])
    assert metrics.accuracy(logits, labels) == pytest.approx(0.8)
    confusion = metrics.confusion_matrix(labels, logits.argmax(1), 4)
    expected = np.zeros((4, 4), int)
    expected[0, 0], expected[1, 1], expected[2, 1], expected[2, 2] = 2, 1, 1, 1
    np.testing.assert_array_equal(confusion, expected)
    recall = metrics.per_class_recall(confusion)
    np.testing.assert_allclose(recall[:3], [1.0, 1.0, 0.5])
    assert np.isnan(recall[3])  # no example of class 3


def test_table1_row_uses_phi_gate_density_for_std_models():
    rng = np.random.default_rng(0)
    features = rng.random((20, 4)).astype(np.float32)
    labels = rng.integers(0, 2, 20)
    kernel = rng.normal(size=(4, 2)).astype(np.float32)
    result = phi.filter_ambiguity(features, labels, kernel, np.zeros(2), steps=5,
                                  density_target=0.75)
    logits = features @ kernel
    std = metrics.table1_row(logits, labels, np.ones((2, 4)), result, gate_trained=False)
    assert std.l1_norm == result.density and std.trained_gate_density == 1.0
    trained = np.array([[1, 0, 1, 1], [0, 1, 1, 0]], np.float32)
    lsg = metrics.table1_row(logits, labels, trained, result, gate_trained=True)
    assert lsg.l1_norm == pytest.approx(5 / 8) and lsg.phi_gate_density == result.density
    assert lsg.accuracy == metrics.accuracy(logits, labels)
    assert lsg.phi == result.phi


def test_metrics_reject_bad_labels():
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        metrics.accuracy(np.zeros((2, 2)), [0, 2])
    with pytest.raises(ValueError, match=r"labels must have shape \[N\]=\[2\]"):
        metrics.cross_entropy(np.zeros((2, 2)), [0])
    with pytest.raises(ValueError, match="labels must be integers"):
        metrics.accuracy(np.zeros((2, 2)), np.array([0.0, 1.0]))
