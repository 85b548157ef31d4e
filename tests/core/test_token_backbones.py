"""Tests for the backbones beyond CNNs: lsg_tf.core.backbones.convmixer and .vit."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import ROOT

from lsg_tf.core.backbones import BACKBONES, build_backbone, convmixer, feature_channels, vit
from lsg_tf.core.model import LSGModel
from lsg_tf.core.schedule import Schedule

# Hand-derived parameter counts of the defaults on 32x32x3 images.
# ConvMixer-256/8, patch 2, kernel 5 (every conv has a bias; BN: gamma, beta + 2 moving stats):
#   patch embedding conv 2*2*3*256 + 256 = 3,328; its BN 4*256 = 1,024
#   block: depthwise 5*5*256 + 256 = 6,656; BN 1,024; pointwise 256*256 + 256 = 65,792;
#          BN 1,024 -> 74,496; 8 blocks = 595,968
#   total 3,328 + 1,024 + 595,968 = 600,320; non-trainable 17 BN * 2*256 = 8,704.
CONVMIXER_PARAMS = 3_328 + 1_024 + 8 * (6_656 + 1_024 + 65_792 + 1_024)
CONVMIXER_NON_TRAINABLE = 17 * 2 * 256
# ConvMixer-128/4: 2*2*3*128 + 128 + 4*128 + 4 * (25*128 + 128 + 4*128 + 128*128 + 128 + 4*128)
CONVMIXER_SMALL_PARAMS = 1_664 + 512 + 4 * (3_328 + 512 + 16_512 + 512)
# ViT (no biases in the tokenizer convs, all parameters trainable):
#   tokenizer 3*3*3*64 + 3*3*64*128 = 1,728 + 73,728; position embedding 8*8*128 = 8,192
#   block: 2 LayerNorms 2 * 2*128; query, key, value 3 * (128*128 + 128); output 128*128 + 128;
#          MLP 128*256 + 256 + 256*128 + 128 -> 132,480; 4 blocks = 529,920
#   final LayerNorm 256; total 613,824.
VIT_BLOCK = 2 * 256 + 3 * (128 * 128 + 128) + (128 * 128 + 128) + (128 * 256 + 256) + (256 * 128
                                                                                   + 128)
VIT_PARAMS = 1_728 + 73_728 + 8_192 + 4 * VIT_BLOCK + 256


def _images(shape, batch=2, seed=0):
    return np.random.default_rng(seed).random((batch, *shape), dtype=np.float32)


def _tiny(name, shape=(12, 12, 3), seed=0, **kwargs):
    """A backbone of a few thousand parameters of family ``name``."""
    if name == "convmixer":
        return convmixer.convmixer(shape, width=8, depth=2, patch=2, kernel=3, seed=seed,
                                   **kwargs)
    return vit.vit(shape, dim=8, depth=2, heads=2, mlp_ratio=2, tokenizer_layers=1,
                   tokenizer_channels=4, seed=seed, **kwargs)


def _kernel_count(model):
    return sum(1 for w in model.trainable_weights if w.path.endswith("kernel"))


def test_token_backbones_are_listed():
    assert {"convmixer", "convmixer_small", "vit"} <= set(BACKBONES)
    assert (convmixer.WIDTH, convmixer.DEPTH, convmixer.PATCH, convmixer.KERNEL) == (256, 8, 2, 5)
    assert (vit.DIM, vit.DEPTH, vit.HEADS, vit.MLP_RATIO) == (128, 4, 4, 2)


@pytest.mark.parametrize("name, input_shape, expected", [
    ("convmixer", (32, 32, 3), (16, 16, 256)),
    ("convmixer", (12, 18, 1), (6, 9, 256)),
    ("convmixer_small", (32, 32, 3), (16, 16, 128)),
    ("vit", (32, 32, 3), (8, 8, 128)),
    ("vit", (24, 40, 1), (6, 10, 128)),
])
def test_output_shapes(name, input_shape, expected):
    model = build_backbone(name, input_shape, seed=0)
    features = np.asarray(model(_images(input_shape), training=False))
    assert features.shape == (2, *expected) and features.dtype == np.float32
    assert feature_channels(model) == expected[-1]
    assert tuple(model.input.shape) == (None, *input_shape)


def test_parameter_counts_of_the_defaults():
    assert CONVMIXER_PARAMS == 600_320 and VIT_PARAMS == 613_824
    model = build_backbone("convmixer", (32, 32, 3))
    assert model.count_params() == CONVMIXER_PARAMS
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == CONVMIXER_PARAMS - CONVMIXER_NON_TRAINABLE
    assert build_backbone("convmixer_small", (32, 32, 3)).count_params() == CONVMIXER_SMALL_PARAMS
    model = build_backbone("vit", (32, 32, 3))
    assert model.count_params() == VIT_PARAMS
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == VIT_PARAMS


@pytest.mark.parametrize("family", ["convmixer", "vit"])
def test_same_seed_same_weights_and_every_kernel_its_own_seed(family):
    a, b, c = _tiny(family, seed=3), _tiny(family, seed=3), _tiny(family, seed=4)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights()))
    # Kernels of the same shape (the attention's query, key and value too) all differ.
    kernels = [np.asarray(w) for w in a.trainable_weights if w.path.endswith("kernel")]
    for i, first in enumerate(kernels):
        for second in kernels[i + 1:]:
            assert first.shape != second.shape or not np.array_equal(first, second)


def test_seeded_build_leaves_python_random_alone():
    import random

    random.seed(5)
    expected = random.random()
    random.seed(5)
    _tiny("vit", seed=0)
    assert random.random() == expected


@pytest.mark.parametrize("family", ["convmixer", "vit"])
def test_weight_decay_is_half_l2_on_kernels(family):
    model = _tiny(family, weight_decay=0.2)
    assert len(model.losses) == _kernel_count(model)
    assert float(keras.ops.sum(model.losses)) == pytest.approx(
        sum(0.1 * float(np.sum(np.square(w))) for w in model.trainable_weights
            if w.path.endswith("kernel")), rel=1e-5)
    everything = _tiny(family, weight_decay=0.2, decay_all=True)
    assert len(everything.losses) == len(everything.trainable_weights)
    assert not _tiny(family).losses


def test_convmixer_fused_batch_norm_is_the_same_layer():
    from lsg_tf.core.batch_norm import FusedBatchNormalization

    keras_bn = _tiny("convmixer")
    fused = _tiny("convmixer", batch_norm="fused")
    norms = [layer for layer in fused.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 5 and all(isinstance(n, FusedBatchNormalization) for n in norms)
    x = _images((12, 12, 3), batch=4)
    for training in (False, True):
        np.testing.assert_allclose(np.asarray(fused(x, training=training)),
                                   np.asarray(keras_bn(x, training=training)),
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family", ["convmixer", "vit"])
def test_joint_training_keeps_the_gate_constraint_and_the_std_path(family):
    rng = np.random.default_rng(0)
    x = rng.random((32, 12, 12, 3), dtype=np.float32)
    y = rng.integers(0, 3, 32).astype(np.int32)
    keras.utils.set_random_seed(0)
    model = LSGModel(_tiny(family), 3, schedule=Schedule("joint"), sparsity_coefficient=0.05,
                     density_target=0.5, input_mean=[0.5] * 3, input_std=[0.25] * 3)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3),
                  gate_optimizer=keras.optimizers.Adam(0.05))
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False).history
    assert all(np.isfinite(history["loss"]))
    gate = model.gate.numpy()
    assert gate.shape == (3, 8) and gate.min() >= 0.0 and gate.max() <= 1.0
    np.testing.assert_allclose(gate.max(axis=0), 1.0, rtol=1e-6)
    assert not np.allclose(gate, 1.0), "the gate never moved"
    # STD path: classifier(GAP(backbone((x - mean) / std))), by hand.
    maps = np.asarray(model.backbone((x - 0.5) / 0.25, training=False))
    kernel, bias = model.classifier.kernel.numpy(), model.classifier.bias.numpy()
    expected = maps.mean(axis=(1, 2)) @ kernel + bias
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("family", ["convmixer", "vit"])
def test_keras_file_round_trip(family, tmp_path):
    model = LSGModel(_tiny(family, dropout=0.1) if family == "vit" else _tiny(family), 3)
    path = str(tmp_path / "model.keras")
    model.save(path)
    x = _images((12, 12, 3), batch=4)
    np.testing.assert_allclose(np.asarray(keras.models.load_model(path)(x)), np.asarray(model(x)),
                               rtol=1e-6, atol=1e-6)


_MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
from lsg_tf.core.backbones import convmixer, vit
from lsg_tf.core.model import LSGModel
from lsg_tf.core.schedule import Schedule
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
rng = np.random.default_rng(0)
x = rng.random((16, 12, 12, 3), dtype=np.float32)
y = rng.integers(0, 3, 16).astype(np.int32)
out = {"replicas": strategy.num_replicas_in_sync}
builders = {
    "convmixer": lambda: convmixer.convmixer((12, 12, 3), 8, 2, 2, 3, seed=0, batch_norm="fused"),
    "vit": lambda: vit.vit((12, 12, 3), 8, 2, 2, 2, 1, 4, dropout=0.1, attention_dropout=0.1,
                           stochastic_depth=0.2, seed=0),
}
for name, build in builders.items():
    with strategy.scope():
        model = LSGModel(build(), 3, schedule=Schedule("joint"))
        model.compile(optimizer=keras.optimizers.AdamW(1e-3),
                      gate_optimizer=keras.optimizers.Adam(0.05))
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    loss = model.fit(data, epochs=1, verbose=0).history["loss"]
    gate = model.gate.numpy()
    out[name] = {"loss": [float(v) for v in loss], "gate_max": gate.max(axis=0).tolist(),
                 "gate_moved": float(np.abs(gate - 1).max())}
print(json.dumps(out))
"""


def test_both_train_under_mirrored_strategy():
    # Logical CPU devices must be configured before TensorFlow starts: a process of its own.
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.run([sys.executable, "-c", _MIRRORED], capture_output=True, text=True,
                             env=env, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads(process.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    for family in ("convmixer", "vit"):
        assert all(np.isfinite(result[family]["loss"]))
        np.testing.assert_allclose(result[family]["gate_max"], 1.0, rtol=1e-6)
        assert result[family]["gate_moved"] > 0


@pytest.mark.parametrize("name, kwargs, message", [
    ("vit", {"input_shape": (6, 8, 3)}, r"too small for backbone 'vit'; H and W must be >= 8"),
    ("convmixer", {"input_shape": (8, 7, 1)}, "too small for backbone 'convmixer'"),
    ("vit", {"weights": "imagenet"}, "weights='imagenet' needs a keras.applications backbone"),
    ("convmixer", {"weight_decay": -1.0}, "weight_decay must be a finite number >= 0"),
    ("vit", {"seed": -1}, "seed must be None or an integer >= 0"),
    ("convmixer", {"shortcut": "b"}, "applies to the resnet20 backbones only"),
])
def test_build_backbone_checks_the_arguments(name, kwargs, message):
    kwargs = {"input_shape": (16, 16, 3), **kwargs}
    with pytest.raises(ValueError, match=message):
        build_backbone(name, **kwargs)


@pytest.mark.parametrize("build, message", [
    (lambda: vit.vit((16, 16, 3), dim=10, heads=4), "heads=4 must divide dim=10"),
    (lambda: vit.vit((16, 16, 3), depth=0), "vit depth must be an integer >= 1, got 0"),
    (lambda: vit.vit((16, 16, 3), stochastic_depth=1.0), r"stochastic_depth must be a rate"),
    (lambda: convmixer.convmixer((16, 16, 3), kernel=4), "kernel must be odd"),
    (lambda: convmixer.convmixer((16, 16, 3), patch=32), "smaller than convmixer patch 32"),
])
def test_family_builders_check_their_sizes(build, message):
    with pytest.raises(ValueError, match=message):
        build()
