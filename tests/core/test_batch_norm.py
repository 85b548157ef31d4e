"""FusedBatchNormalization: the same layer as Keras' BatchNormalization, one fused kernel."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lsg_tf.core.batch_norm import FusedBatchNormalization


def _pair(**kwargs):
    keras.utils.set_random_seed(0)
    plain = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, **kwargs)
    fused = FusedBatchNormalization(momentum=0.9, epsilon=1e-5, **kwargs)
    x = tf.random.normal((8, 5, 5, 6)) * 3.0 + 1.5
    plain.build(x.shape)
    fused.build(x.shape)
    for layer in (plain, fused):  # the same non-trivial scale and offset in both
        if layer.scale:
            layer.gamma.assign(np.linspace(0.5, 2, 6).astype("float32"))
        if layer.center:
            layer.beta.assign(np.linspace(-1, 1, 6).astype("float32"))
    return plain, fused, x


def _step(layer, x, upstream):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
    return y, tape.gradient(y, [x, layer.gamma, layer.beta], output_gradients=upstream)


def test_training_outputs_gradients_and_moving_statistics_match_keras():
    plain, fused, x = _pair()
    upstream = tf.random.normal(x.shape, seed=3)
    for _ in range(3):  # three updates of the moving statistics
        y_plain, g_plain = _step(plain, x, upstream)
        y_fused, g_fused = _step(fused, x, upstream)
    np.testing.assert_allclose(y_fused, y_plain, atol=2e-5)
    for a, b in zip(g_fused, g_plain):
        np.testing.assert_allclose(a, b, atol=2e-4)
    # Biased batch variance, as Keras: the moving variance after 3 steps from 1 is
    # 0.9^3 + (1 - 0.9^3) var_biased.
    var = np.var(x.numpy().reshape(-1, 6), axis=0)
    np.testing.assert_allclose(fused.moving_variance, 0.729 + 0.271 * var, rtol=1e-5)
    np.testing.assert_allclose(fused.moving_variance, plain.moving_variance, rtol=1e-5)
    np.testing.assert_allclose(fused.moving_mean, plain.moving_mean, atol=1e-5)
    # Inference uses the moving statistics in both.
    np.testing.assert_allclose(fused(x, training=False), plain(x, training=False), atol=2e-5)
    assert fused._fusable(x, True, None) and not fused._fusable(x, False, None)


def test_inside_a_compiled_function_and_without_scale_or_offset():
    plain, fused, x = _pair(center=False, scale=False)
    run = tf.function(lambda t: fused(t, training=True))
    np.testing.assert_allclose(run(x), plain(x, training=True), atol=2e-5)


def test_a_frozen_layer_and_other_ranks_use_the_keras_path():
    fused = FusedBatchNormalization()
    fused.trainable = False
    x = tf.random.normal((4, 3, 3, 2))
    fused.build(x.shape)
    # Frozen: inference statistics (mean 0, variance 1) even with training=True.
    np.testing.assert_allclose(fused(x, training=True), x / np.sqrt(1 + 1e-3), atol=1e-5)
    flat = FusedBatchNormalization()
    y = flat(tf.random.normal((16, 4)), training=True)
    assert y.shape == (16, 4)


def test_saves_and_loads_as_itself(tmp_path):
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, FusedBatchNormalization(name="bn")(inputs))
    model(tf.random.normal((2, 4, 4, 3)), training=True)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.get_layer("bn"), FusedBatchNormalization)
    np.testing.assert_allclose(loaded.get_layer("bn").moving_mean,
                               model.get_layer("bn").moving_mean)


@pytest.mark.parametrize("momentum", [0.0, 0.99])
def test_momentum_is_keras_rule(momentum):
    layer = FusedBatchNormalization(momentum=momentum)
    x = tf.random.normal((6, 2, 2, 3)) + 4.0
    layer(x, training=True)
    mean = x.numpy().reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(layer.moving_mean, (1 - momentum) * mean, rtol=1e-5)


def test_backbone_option_builds_the_fused_layer_with_the_same_weights():
    from lsg_tf.core import backbones

    plain = backbones.build_backbone("resnet20", (16, 16, 3), seed=0)
    fused = backbones.build_backbone("resnet20", (16, 16, 3), seed=0, batch_norm="fused")
    kinds = {type(l) for l in fused.layers if isinstance(l, keras.layers.BatchNormalization)}
    assert kinds == {FusedBatchNormalization}
    assert [w.shape for w in plain.weights] == [w.shape for w in fused.weights]
    x = tf.random.uniform((4, 16, 16, 3))
    np.testing.assert_allclose(fused(x, training=True), plain(x, training=True), atol=1e-3)
    with pytest.raises(ValueError, match="batch_norm must be one of"):
        backbones.build_backbone("resnet20", (16, 16, 3), batch_norm="sync")
