import numpy as np
import pytest

from lsg_tf.analysis import metrics, phi
from lsg_tf.core import gate as gate_lib


def _class_specific_case(num_classes=3, per_class=2, n_per_class=20, seed=0):
    """Filters 2c, 2c+1 fire only on class c; the classifier reads filter k as class k // 2.

    The classifier weight (1) leaves a cross-entropy of ~0.1, whose gradient breaks the
    symmetry of the all-ones start: a gradient equal for every entry of a column (the
    sparsity term's) is undone by the column max-normalisation.
    """
    rng = np.random.default_rng(seed)
    k = num_classes * per_class
    labels = np.repeat(np.arange(num_classes), n_per_class)
    owner = np.arange(k) // per_class
    features = (owner[None, :] == labels[:, None]) * rng.uniform(1.0, 2.0, (len(labels), k))
    kernel = 1.0 * (owner[:, None] == np.arange(num_classes)[None, :])
    bias = np.zeros(num_classes)
    return features.astype(np.float32), labels, kernel.astype(np.float32), bias, owner


def test_filter_ambiguity_class_specific_features_give_one_hot_gate():
    features, labels, kernel, bias, owner = _class_specific_case()
    # Target density 1/C: one class per filter. Gate entries of other classes meet only
    # zero features, so only the sparsity term acts on them and drives them to 0, while the
    # own-class entry lowers the cross-entropy and stays at the column maximum 1.
    result = phi.filter_ambiguity(features, labels, kernel, bias, coefficient=0.01,
                                  density_target=1 / 3, steps=300, learning_rate=0.05)
    expected = (np.arange(3)[:, None] == owner[None, :]).astype(np.float32)
    np.testing.assert_allclose(result.gate, expected, atol=0.05)
    assert result.density == pytest.approx(1 / 3, abs=0.02)
    # A one-hot gate only closes channels that are zero anyway: the gated logits equal the
    # ungated ones, so Φ is the ungated cross-entropy with no sparsity cost.
    assert result.sparsity < 1e-3
    assert result.phi == pytest.approx(metrics.cross_entropy(features @ kernel + bias, labels),
                                       abs=1e-3)


def test_filter_ambiguity_parts_add_up_and_gate_obeys_constraints():
    rng = np.random.default_rng(1)
    features = rng.random((40, 8)).astype(np.float32)
    labels = rng.integers(0, 4, 40)
    kernel = rng.normal(size=(8, 4)).astype(np.float32)
    bias = rng.normal(size=4).astype(np.float32)
    result = phi.filter_ambiguity(features, labels, kernel, bias, coefficient=0.05,
                                  density_target=0.5, steps=50)
    g = result.gate
    assert g.min() >= 0 and g.max() <= 1
    np.testing.assert_allclose(g.max(axis=0), 1.0, atol=1e-6)
    assert result.phi == pytest.approx(result.cross_entropy + result.sparsity, rel=1e-6)
    assert result.target == pytest.approx(0.5 * 4 * 8)
    assert result.sparsity == pytest.approx(
        float(gate_lib.sparsity_penalty(g, 0.05, result.target, "abs")), rel=1e-4)
    # The cross-entropy part is the gated cross-entropy at the returned gate.
    gated = (features * g[labels]) @ kernel + bias
    assert result.cross_entropy == pytest.approx(metrics.cross_entropy(gated, labels), rel=1e-4)
    assert result.density == pytest.approx(g.mean(), rel=1e-6)
    assert result.history.shape == (50,)
    assert result.seconds > 0


def test_filter_ambiguity_without_sparsity_never_exceeds_the_ungated_cross_entropy():
    # With a = 0 the all-ones start is the STD path; Φ is the best visited value.
    rng = np.random.default_rng(2)
    features = rng.random((30, 5)).astype(np.float32)
    labels = rng.integers(0, 3, 30)
    kernel = rng.normal(size=(5, 3)).astype(np.float32)
    bias = np.zeros(3, np.float32)
    result = phi.filter_ambiguity(features, labels, kernel, bias, coefficient=0.0, steps=20)
    assert result.phi <= metrics.cross_entropy(features @ kernel + bias, labels) + 1e-6
    assert result.history[0] == pytest.approx(
        metrics.cross_entropy(features @ kernel + bias, labels), rel=1e-5)


def test_filter_ambiguity_is_deterministic():
    features, labels, kernel, bias, _ = _class_specific_case(seed=3)
    a = phi.filter_ambiguity(features, labels, kernel, bias, steps=30)
    b = phi.filter_ambiguity(features, labels, kernel, bias, steps=30)
    np.testing.assert_array_equal(a.gate, b.gate)
    assert a.phi == b.phi


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=0), "steps must be an integer >= 1"),
    (dict(learning_rate=0.0), "learning_rate must be > 0"),
    (dict(coefficient=-1.0), r"coefficient \(a\) must be >= 0"),
    (dict(form="l2"), "sparsity form must be one of"),
    (dict(density_target=0.05), r"density_target must be in \[1/C, 1\]"),
    (dict(initial_gate=np.ones((2, 6))), r"initial_gate must have shape \[C, K\]"),
])
def test_filter_ambiguity_rejects_bad_arguments(kwargs, message):
    features, labels, kernel, bias, _ = _class_specific_case()
    with pytest.raises(ValueError, match=message):
        phi.filter_ambiguity(features, labels, kernel, bias, **kwargs)


def test_filter_ambiguity_rejects_bad_shapes_and_labels():
    features, labels, kernel, bias, _ = _class_specific_case()
    with pytest.raises(ValueError, match=r"kernel must have shape \[K, C\]"):
        phi.filter_ambiguity(features, labels, kernel[:-1], bias)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        phi.filter_ambiguity(features, labels + 1, kernel, bias)
    with pytest.raises(ValueError, match=r"bias must have shape \[C\]"):
        phi.filter_ambiguity(features, labels, kernel, bias[:2])


def test_model_filter_ambiguity_equals_phi_on_the_model_features():
    from conftest import tiny_backbone

    from lsg_tf.analysis import head
    from lsg_tf.core import features
    from lsg_tf.core.model import LSGModel

    model = LSGModel(tiny_backbone(filters=4), 3)
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (12, 8, 8, 1)).astype(np.uint8)
    labels = rng.integers(0, 3, 12)
    result = phi.model_filter_ambiguity(model, images, labels, batch_size=5, steps=10)
    kernel, bias = head.classifier_weights(model)
    direct = phi.filter_ambiguity(features.pooled_features(model, images), labels, kernel, bias,
                                  steps=10)
    np.testing.assert_allclose(result.gate, direct.gate, atol=1e-6)
    assert result.phi == pytest.approx(direct.phi, rel=1e-5)
