import numpy as np
import pytest

from lsg_tf.analysis import mis


def _binary_entropy(p):
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def _class_specific(seed=0, per_class=60, num_classes=4, filters_per_class=2):
    # Filter k fires (value in [1, 2]) only on images of class k % C; zero elsewhere.
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), per_class)
    owner = np.arange(num_classes * filters_per_class) % num_classes
    on = owner[None, :] == labels[:, None]
    return on * rng.uniform(1, 2, on.shape), labels, owner


def test_mis_of_class_specific_features_reaches_the_label_entropy():
    features, labels, owner = _class_specific()
    result = mis.mutual_information_score(features, labels, 4, seed=0)
    # Each filter determines 1[y = its class] exactly: MI = H(1/4).
    assert result.mis == pytest.approx(_binary_entropy(0.25), abs=0.03)
    np.testing.assert_array_equal(result.best_class, owner)
    assert result.mutual_information.shape == (8, 4)


def test_mis_of_label_independent_features_is_near_zero():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(4), 60)
    result = mis.mutual_information_score(rng.random((240, 8)), labels, 4, seed=0)
    assert result.mis < 0.05


def test_mis_is_seeded_and_subsamples():
    features, labels, _ = _class_specific(seed=2)
    a = mis.mutual_information_score(features, labels, 4, seed=3, max_examples=100)
    b = mis.mutual_information_score(features, labels, 4, seed=3, max_examples=100)
    assert a.mis == b.mis and a.num_examples == 100
    assert mis.mutual_information_score(features, labels, 4).num_examples == 240


def test_mis_rejects_bad_input():
    features, labels, _ = _class_specific()
    with pytest.raises(ValueError, match=r"features must have shape \[N, K\]"):
        mis.mutual_information_score(features[0], labels, 4)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        mis.mutual_information_score(features, labels, 3)
    with pytest.raises(ValueError, match="max_examples must be >= 2"):
        mis.mutual_information_score(features, labels, 4, max_examples=1)
