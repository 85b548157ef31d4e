"""The TF Serving export of LSG models on the backbones beyond CNNs (ConvMixer, ViT): loaded
in Python and through TensorFlow's C API (TF Serving's loader, test_export's runner)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_export import _run_capi

from lsg_tf import data
from lsg_tf.core.backbones import convmixer, vit
from lsg_tf.core.model import LSGModel
from lsg_tf.serving import export_lib

SHAPE = (12, 12, 3)


def _model(family):
    keras.utils.set_random_seed(0)
    if family == "convmixer":
        backbone = convmixer.convmixer(SHAPE, width=8, depth=2, patch=2, kernel=3, seed=1)
        rng = np.random.default_rng(2)
        for layer in backbone.layers:  # inference statistics differ from batch statistics
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.moving_mean.assign(rng.normal(0, 0.2, layer.moving_mean.shape))
                layer.moving_variance.assign(rng.uniform(0.5, 2, layer.moving_variance.shape))
    else:
        backbone = vit.vit(SHAPE, dim=8, depth=2, heads=2, mlp_ratio=2, tokenizer_layers=1,
                           tokenizer_channels=4, dropout=0.1, stochastic_depth=0.2, seed=1)
    model = LSGModel(backbone, 3, input_mean=[0.5] * 3, input_std=[0.25] * 3,
                     class_names=["cat", "dog", "frog"])
    rng = np.random.default_rng(3)
    gate = rng.random(model.gate.shape).astype(np.float32)
    model.gate.assign(gate / gate.max(axis=0, keepdims=True))
    model.classifier.bias.assign(rng.normal(0, 0.5, 3).astype(np.float32))
    return model


@pytest.mark.parametrize("family", ["convmixer", "vit"])
def test_export_round_trip(family, tmp_path):
    model = _model(family)
    path = export_lib.export_saved_model(model, str(tmp_path), family)
    loaded = tf.saved_model.load(path)
    for size in (SHAPE[:2], (16, 10)):
        images = np.random.default_rng(4).integers(0, 256, (3, *size, 3)).astype(np.uint8)
        served = loaded.signatures["serving_default"](images=tf.constant(images))
        explain = loaded.signatures["explain"](images=tf.constant(images))
        resized = images if size == SHAPE[:2] else data.resize_images(
            tf.constant(images), SHAPE[:2]).numpy()
        pixels = resized.astype(np.float32) / 255.0
        logits = np.asarray(model(pixels))
        np.testing.assert_allclose(served["probabilities"].numpy(),
                                   tf.nn.softmax(logits).numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(served["classes"].numpy(), logits.argmax(axis=1))
        np.testing.assert_allclose(explain["filter_activations"].numpy(),
                                   np.asarray(model.pooled_features(pixels)), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_array_equal(explain["class_filters"].numpy(),
                                      model.gate.numpy()[logits.argmax(axis=1)])
        assert explain["cam"].shape == (3, *size)
        # CAM of the predicted class on the [B, h, w, K] map, upsampled to the sent size.
        kernel = model.classifier.kernel.numpy()[:, logits.argmax(axis=1)]  # [K, B]
        cam = np.einsum("bhwk,kb->bhw", np.asarray(model.feature_maps(pixels)), kernel)
        cam = tf.image.resize(cam[..., None], size, method="bilinear")[..., 0].numpy()
        np.testing.assert_allclose(explain["cam"].numpy(), cam, rtol=1e-4, atol=1e-5)
        if size == SHAPE[:2]:
            process, results = _run_capi(path, images, str(tmp_path / "capi"))
            assert process.returncode == 0, process.stderr
            for signature, outputs in (("serving_default", served), ("explain", explain)):
                for key, value in outputs.items():
                    np.testing.assert_allclose(results[signature][key], value.numpy(),
                                               rtol=1e-5, atol=1e-5, err_msg=key)
