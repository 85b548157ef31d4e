"""The analyses on the backbones beyond CNNs (ConvMixer, ViT): masking and filter correlation."""

import keras
import numpy as np
import pytest

from lsg_tf.analysis import correlation, head, masking
from lsg_tf.core import features
from lsg_tf.core.backbones import build_backbone, convmixer, vit
from lsg_tf.core.model import LSGModel
from lsg_tf.core.schedule import Schedule

SHAPE = (12, 12, 3)


def _tiny(family):
    if family == "convmixer":
        return convmixer.convmixer(SHAPE, width=8, depth=2, patch=2, kernel=3, seed=0)
    return vit.vit(SHAPE, dim=8, depth=2, heads=2, mlp_ratio=2, tokenizer_layers=1,
                   tokenizer_channels=4, seed=0)


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n // 3).astype(np.int32)
    x = rng.random((n, *SHAPE), dtype=np.float32)
    x[y == 1, :6] *= 0.3  # some class structure
    x[y == 2, :, :6] = 1.0 - x[y == 2, :, :6] * 0.3
    return x, y


@pytest.fixture(scope="module", params=["convmixer", "vit"])
def trained(request):
    """A tiny LSG model of each family trained for 2 epochs with the joint scheme."""
    keras.utils.set_random_seed(0)
    model = LSGModel(_tiny(request.param), 3, schedule=Schedule("joint"),
                     sparsity_coefficient=0.2, density_target=0.4)
    model.compile(optimizer=keras.optimizers.AdamW(3e-3),
                  gate_optimizer=keras.optimizers.Adam(0.1))
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    return model


def test_masking_a_class_zeroes_its_channels_as_computed_by_hand(trained):
    x, y = _data()
    pooled, logits = features.pooled_features_and_logits(trained, x)
    kernel, bias = head.classifier_weights(trained)
    gate = trained.gate.numpy()
    c = 1
    # A threshold above the row's smallest gate value: that filter kept, the others masked.
    values = np.unique(gate[c])
    assert len(values) > 1, f"class {c}'s gate row is constant: {gate[c]}"
    threshold = float(values[0] + values[1]) / 2
    masked = masking.class_filters(gate, [c], threshold)
    assert masked.any() and not masked.all()
    np.testing.assert_array_equal(masked, gate[c] > threshold)

    # By hand, on the backbone's map: zero the masked channels, pool, classify.
    maps = np.array(trained.feature_maps(x))
    maps[..., masked] = 0.0
    by_hand = maps.mean(axis=(1, 2)) @ kernel + bias
    np.testing.assert_allclose(head.logits(pooled, kernel, bias, ~masked), by_hand,
                               rtol=1e-4, atol=1e-5)
    # Class c's logit loses exactly the masked channels' contributions; the rest is kept.
    np.testing.assert_allclose(logits[:, c] - by_hand[:, c],
                               pooled[:, masked] @ kernel[masked, c], rtol=1e-4, atol=1e-5)
    assert not np.allclose(logits[:, c], by_hand[:, c])

    result = masking.mask_filters(pooled, y, kernel, bias, gate, [c], threshold)
    np.testing.assert_array_equal(result.masked_filters, np.flatnonzero(masked))
    predicted = by_hand.argmax(axis=1)
    expected = np.zeros((3, 3), np.int64)
    np.add.at(expected, (y, predicted), 1)
    np.testing.assert_array_equal(result.confusion, expected)
    np.testing.assert_array_equal(result.correct, predicted == y)


def test_vit_filters_are_the_last_mlp_projection_columns():
    model = LSGModel(build_backbone("vit", (32, 32, 3), seed=0), 10)
    filters = correlation.last_filters(model)
    layer = model.backbone.get_layer("block4_mlp_fc2")
    assert features.last_kernel_layer(model) is layer
    kernel = layer.kernel.numpy()  # [hidden, D] = [256, 128]
    assert kernel.shape == (256, 128)
    assert filters.shape == (128, 256) and filters.dtype == np.float32
    for k in (0, 5, 127):
        np.testing.assert_array_equal(filters[k], kernel[:, k])
    corr = correlation.filter_correlation(filters)
    assert corr.shape == (128, 128)
    np.testing.assert_allclose(np.diag(corr), 1.0, rtol=1e-6)


def test_convmixer_filters_are_the_last_pointwise_kernel():
    model = LSGModel(_tiny("convmixer"), 3)
    filters = correlation.last_filters(model)
    kernel = model.backbone.get_layer("block2_pointwise_conv").kernel.numpy()  # [1, 1, 8, 8]
    assert filters.shape == (8, 8)
    np.testing.assert_array_equal(filters, kernel[0, 0].T)
