import numpy as np
import pytest

from lsg_tf.analysis import similarity


def test_similarity_matrix_matches_hand_values():
    features = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    labels = np.array([0, 0, 1])
    gate = np.array([[1.0, 0.0], [0.5, 1.0]])
    s, counts = similarity.similarity_matrix(features, labels, gate)
    # class 0: mean a = (2, 0) -> (2*1 + 0, 2*0.5 + 0); class 1: a = (0, 2) -> (0, 2)
    np.testing.assert_allclose(s, [[2.0, 1.0], [0.0, 2.0]])
    np.testing.assert_array_equal(counts, [2, 1])


def test_feature_gate_similarity_splits_true_positives_and_false_negatives():
    features = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 2.0], [1.0, 1.0]])
    labels = np.array([0, 0, 1, 1])
    predictions = np.array([0, 1, 1, 0])
    gate = np.eye(2)
    result = similarity.feature_gate_similarity(features, labels, predictions, gate)
    np.testing.assert_allclose(result.tp, [[2.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(result.fn, [[0.0, 1.0], [1.0, 1.0]])
    assert result.tp_dominance.argmax_fraction == 1.0
    assert result.fn_dominance.argmax_fraction == 0.0  # row 1 ties: argmax picks column 0


def test_diagonal_dominance_values_and_empty_rows():
    s = np.array([[4.0, 1.0, 1.0], [1.0, 1.0, 3.0], [np.nan, np.nan, np.nan]])
    d = similarity.diagonal_dominance(s)
    assert d.rows == 2
    assert d.argmax_fraction == 0.5
    assert d.diagonal_ratio == pytest.approx((4 / 1 + 1 / 2) / 2)
    s_empty, counts = similarity.similarity_matrix(np.ones((2, 2)), [0, 0], np.eye(2))
    assert np.isnan(s_empty[1]).all() and counts[1] == 0


def test_similarity_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="must share K"):
        similarity.similarity_matrix(np.ones((3, 2)), [0, 1, 1], np.ones((2, 3)))
    with pytest.raises(ValueError, match="predictions must have the labels' shape"):
        similarity.feature_gate_similarity(np.ones((3, 2)), [0, 1, 1], [0, 1], np.eye(2))
    with pytest.raises(ValueError, match=r"square \[C, C\]"):
        similarity.diagonal_dominance(np.ones((2, 3)))
