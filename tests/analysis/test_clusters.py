import numpy as np
import pytest

from lsg_tf.analysis import clusters


def test_cluster_centres_of_gate_shaped_features_match_the_gate():
    rng = np.random.default_rng(0)
    gate = np.zeros((3, 6))
    for c in range(3):
        gate[c, 2 * c:2 * c + 2] = 1.0
    labels = np.repeat(np.arange(3), 30)
    features = gate[labels] * rng.uniform(1.0, 1.5, (90, 1)) + rng.normal(0, 0.02, (90, 6))
    result = clusters.cluster_centres(features, gate, labels, seed=0)
    assert result.mean_matched_cosine > 0.99
    assert result.label_agreement == 1.0
    np.testing.assert_array_equal(np.sort(result.gate_row), [0, 1, 2])


def test_match_centres_recovers_a_permutation():
    gate = np.eye(4)
    centres = gate[[2, 0, 3, 1]] * 5.0
    gate_row, cosine = clusters.match_centres(centres, gate)
    np.testing.assert_array_equal(gate_row, [2, 0, 3, 1])
    np.testing.assert_allclose(cosine[np.arange(4), gate_row], 1.0)


def test_cluster_centres_reject_too_few_examples_and_bad_shapes():
    with pytest.raises(ValueError, match="needs at least 3 examples"):
        clusters.cluster_centres(np.ones((2, 4)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="must share K"):
        clusters.cluster_centres(np.ones((5, 4)), np.ones((3, 5)))
