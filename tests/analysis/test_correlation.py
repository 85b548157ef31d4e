import keras
import numpy as np
import pytest
from conftest import tiny_backbone

from lsg_tf.analysis import correlation
from lsg_tf.core.model import LSGModel


def _orthogonal_groups(num_classes=3, m=2, dim=12, seed=0):
    """Filters of class c span coordinates [c*m*2, (c+1)*m*2): groups are orthogonal."""
    rng = np.random.default_rng(seed)
    weights = np.zeros((num_classes * m, dim))
    width = dim // num_classes
    for c in range(num_classes):
        for j in range(m):
            weights[c * m + j, c * width:(c + 1) * width] = rng.normal(size=width)
    groups = np.arange(num_classes * m).reshape(num_classes, m)
    return weights, groups


def test_inter_class_correlation_of_orthogonal_groups_is_zero():
    weights, groups = _orthogonal_groups()
    corr = correlation.filter_correlation(weights)
    assert correlation.inter_class_correlation(corr, groups) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(np.diag(corr), 1.0)


def test_inter_class_correlation_of_identical_filters_is_one():
    weights = np.tile(np.array([[1.0, 2.0, 3.0]]), (4, 1))
    corr = correlation.filter_correlation(weights)
    assert correlation.inter_class_correlation(corr, [[0, 1], [2, 3]]) == pytest.approx(1.0)


def test_inter_class_correlation_matches_the_formula_by_hand():
    corr = np.array([[1.0, 0.2, 0.4], [0.2, 1.0, -0.6], [0.4, -0.6, 1.0]])
    # A_0 = {0}, A_1 = {1}, A_2 = {2}, m = 1: mean of the 6 off-diagonal entries.
    expected = (0.2 + 0.4 + 0.2 - 0.6 + 0.4 - 0.6) / 6
    assert correlation.inter_class_correlation(corr, [[0], [1], [2]]) == pytest.approx(expected)


def test_filter_correlation_is_the_cosine_and_zero_filters_are_uncorrelated():
    weights = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    corr = correlation.filter_correlation(weights)
    assert corr[0, 1] == pytest.approx(1 / np.sqrt(2))
    np.testing.assert_array_equal(corr[2], 0.0)


def test_redundancy_curve_counts_off_diagonal_pairs():
    corr = np.array([[1.0, 0.5, 0.1], [0.5, 1.0, 0.3], [0.1, 0.3, 1.0]])
    # off-diagonal entries: 0.5, 0.1, 0.5, 0.3, 0.1, 0.3
    np.testing.assert_allclose(correlation.redundancy_curve(corr, [0.0, 0.2, 0.4, 0.5]),
                               [1.0, 4 / 6, 2 / 6, 0.0])


def test_dominant_filters_pick_the_highest_mean_activation_per_class():
    features = np.array([[5.0, 1.0, 3.0, 0.0], [3.0, 1.0, 5.0, 0.0], [0.0, 9.0, 0.0, 8.0]])
    labels = np.array([0, 0, 1])
    groups = correlation.dominant_filters(features, labels, 2, m=2)
    np.testing.assert_array_equal(groups, [[0, 2], [1, 3]])
    with pytest.raises(ValueError, match="class 2 has no images"):
        correlation.dominant_filters(features, labels, 3, m=1)
    with pytest.raises(ValueError, match=r"m must be an integer in \[1, K=4\]"):
        correlation.dominant_filters(features, labels, 2, m=5)


def test_last_filters_flatten_the_last_kernel():
    model = LSGModel(tiny_backbone(filters=5), 3)
    weights = correlation.last_filters(model)
    kernel = model.backbone.layers[-1].get_weights()[0]  # [3, 3, 1, 5]
    assert weights.shape == (5, 9)
    np.testing.assert_allclose(weights[2], kernel[..., 2].ravel())


def test_last_filters_of_a_dense_on_tokens_are_its_columns():
    inputs = keras.Input((4, 4, 2))
    tokens = keras.layers.Reshape((16, 3))(keras.layers.Conv2D(3, 1)(inputs))
    out = keras.layers.Reshape((4, 4, 5))(keras.layers.Dense(5)(tokens))
    model = LSGModel(keras.Model(inputs, out), 3)
    kernel = model.backbone.layers[-2].kernel.numpy()  # [3, 5]
    np.testing.assert_array_equal(correlation.last_filters(model), kernel.T)


@pytest.mark.parametrize("features", [
    lambda x: keras.layers.Concatenate()([x] * 4),  # no kernel layer at all
    lambda x: keras.layers.Concatenate()([keras.layers.Conv2D(2, 1)(x)] * 2),  # 2 outputs, K=4
])
def test_last_filters_without_a_kernel_writing_the_map_are_na(features):
    inputs = keras.Input((4, 4, 1))
    model = LSGModel(keras.Model(inputs, features(inputs)), 3)
    with pytest.raises(correlation.NoFilterWeights, match=r"writing its K=4 feature channels "
                       r"\(found .*\): filter correlation and C_IC are n/a"):
        correlation.last_filters(model)


def test_filter_order_groups_filters_by_class_and_puts_shared_last():
    gate = np.array([[0.1, 1.0, 1.0, 1.0, 0.2],
                     [1.0, 0.0, 1.0, 0.2, 1.0]])
    # filter 2 is shared; filters 1, 3 serve class 0 (1 is more specific); 0, 4 serve class 1.
    np.testing.assert_array_equal(correlation.filter_order(gate), [1, 3, 0, 4, 2])


def test_c_ic_variants_against_hand_values():
    # Two classes, one filter each: w0 = (1, 2, 3), w1 = (3, 2, 1).
    weights = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    variants = correlation.inter_class_correlation_variants(weights, [[0], [1]])
    assert set(variants) == set(correlation.C_IC_VARIANTS)
    assert variants["cosine"] == pytest.approx(10 / 14)  # <w0, w1> / (|w0| |w1|)
    assert variants["abs_cosine"] == pytest.approx(10 / 14)
    # Centred: (-1, 0, 1) and (1, 0, -1), exactly anti-correlated.
    assert variants["pearson"] == pytest.approx(-1.0)
    assert variants["abs_pearson"] == pytest.approx(1.0)


def test_absolute_c_ic_is_never_below_signed():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(12, 27))
    variants = correlation.inter_class_correlation_variants(weights, np.arange(12).reshape(4, 3))
    assert variants["abs_cosine"] >= abs(variants["cosine"])
    assert variants["abs_pearson"] >= abs(variants["pearson"])
