import keras
import numpy as np
import pytest
from conftest import tiny_backbone

from lsg_tf.core import features
from lsg_tf.core.model import LSGModel


def _model():
    return LSGModel(tiny_backbone(filters=4), 3, input_mean=[0.5], input_std=[0.25])


def test_pooled_features_and_logits_match_the_model():
    model = _model()
    x = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 1)).astype(np.uint8)
    a, z = features.pooled_features_and_logits(model, x, batch_size=3)
    unit = x.astype(np.float32) / 255.0
    np.testing.assert_allclose(a, model.pooled_features(unit).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z, model(unit).numpy(), rtol=1e-5, atol=1e-6)
    maps = features.last_conv_maps(model, x, batch_size=4)
    np.testing.assert_allclose(maps, model.feature_maps(unit).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(maps.mean(axis=(1, 2)), a, rtol=1e-5, atol=1e-6)
    # float input in [0, 1] gives the same features as uint8
    np.testing.assert_allclose(features.pooled_features(model, unit, batch_size=4), a, atol=1e-6)


def test_conv_layer_features_are_the_mean_of_each_conv_output():
    inputs = keras.Input((6, 6, 1))
    h1 = keras.layers.Conv2D(2, 3, padding="same", name="c1")(inputs)
    h2 = keras.layers.Conv2D(3, 3, padding="same", name="c2")(keras.layers.ReLU()(h1))
    model = LSGModel(keras.Model(inputs, keras.layers.ReLU()(h2)), 2)
    x = np.random.default_rng(1).random((5, 6, 6, 1)).astype(np.float32)
    f = features.conv_layer_features(model, x, batch_size=2)
    assert f.shape == (5, 5)
    out1 = model.backbone.get_layer("c1")(x)
    out2 = model.backbone.get_layer("c2")(keras.ops.relu(out1))
    np.testing.assert_allclose(f[:, :2], np.mean(out1, axis=(1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f[:, 2:], np.mean(out2, axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_features_reject_bad_input():
    with pytest.raises(ValueError, match=r"shape \[N, H, W, C\]"):
        features.pooled_features(_model(), np.zeros((8, 8, 1), np.uint8))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        features.pooled_features(_model(), np.zeros((2, 8, 8, 1), np.uint8), batch_size=0)
