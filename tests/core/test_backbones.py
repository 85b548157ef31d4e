"""Tests for lsg_tf.core.backbones."""

import random
import re

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format
from keras.src.utils import file_utils

from lsg_tf.core.backbones import BACKBONES, SubsampleZeroPad, build_backbone, feature_channels

# Hand-derived parameter counts.
# ResNet20 (option-A shortcuts have no parameters), 3x3 kernels without bias:
#   stem conv 3*3*3*16                          =     432
#   stage 1: 6 convs * 3*3*16*16 = 6 * 2,304    =  13,824
#   stage 2: 3*3*16*32 + 5 * 3*3*32*32          =  50,688  (4,608 + 46,080)
#   stage 3: 3*3*32*64 + 5 * 3*3*64*64          = 202,752  (18,432 + 184,320)
#   conv kernels                                = 267,696
#   BN: 19 layers, 16 + 6*16 + 6*32 + 6*64 = 688 channels, 4 values each
#       (gamma, beta trainable; moving mean, variance not) = 2,752
#   total 270,448; trainable 267,696 + 2*688 = 269,072; non-trainable 1,376.
#   With 1 input channel the stem conv has 3*3*1*16 = 144 weights: 270,160.
RESNET20_PARAMS_RGB = 270_448
RESNET20_TRAINABLE_RGB = 269_072
RESNET20_PARAMS_GRAY = 270_160
# AlexNet (CIFAR): conv 5*5*3*64 + 5*5*64*192 + 3*3*192*384 + 3*3*384*256
#   + 3*3*256*256 = 4,800 + 307,200 + 663,552 + 884,736 + 589,824 = 2,450,112;
#   BN 4 * (64 + 192 + 384 + 256 + 256) = 4,608; total 2,454,720.
ALEXNET_PARAMS_RGB = 2_454_720
# ResNet152, one bottleneck block of conv5 (convs with bias, BN gamma/beta):
#   1x1 2048->512: 1,048,576 + 512;  BN 2*512
#   3x3 512->512:  2,359,296 + 512;  BN 2*512
#   1x1 512->2048: 1,048,576 + 2,048; BN 2*2048
#   = 4,465,664 trainable per block, two blocks: 8,931,328.
RESNET152_TOP2_TRAINABLE = 8_931_328


def _trainable_count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def _images(shape, batch=2, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, *shape)).astype("float32")


@pytest.fixture(scope="module")
def resnet152_gray():
    """resnet152_top2 on 32x32x1 with weight decay (built once: ~2-3 s)."""
    return build_backbone("resnet152_top2", (32, 32, 1), weight_decay=1e-4, seed=0)


@pytest.mark.parametrize(
    "name, input_shape, expected",
    [
        ("resnet20", (32, 32, 3), (8, 8, 64)),
        ("resnet20", (28, 28, 1), (7, 7, 64)),
        ("resnet20", (9, 13, 1), (3, 4, 64)),
        ("alexnet_cifar", (32, 32, 3), (8, 8, 256)),
        ("alexnet_cifar", (28, 28, 1), (7, 7, 256)),
        ("resnet152_top2", (32, 32, 3), (1, 1, 2048)),
        ("keras:MobileNetV2", (32, 32, 3), (1, 1, 1280)),
        ("keras:MobileNetV2", (28, 28, 1), (1, 1, 1280)),
    ],
)
def test_build_backbone_output_shape_and_channels(name, input_shape, expected):
    model = build_backbone(name, input_shape, seed=0)
    features = np.asarray(model(_images(input_shape), training=False))
    assert features.shape == (2, *expected)
    assert features.dtype == np.float32
    assert feature_channels(model) == expected[-1]
    assert tuple(model.input.shape) == (None, *input_shape)


def test_build_backbone_resnet152_grayscale_output_shape(resnet152_gray):
    features = np.asarray(resnet152_gray(_images((32, 32, 1)), training=False))
    assert features.shape == (2, 1, 1, 2048)
    assert feature_channels(resnet152_gray) == 2048
    assert resnet152_gray.get_layer("grayscale_to_rgb").output.shape[-1] == 3


def test_resnet20_param_count_hand_derived():
    model = build_backbone("resnet20", (32, 32, 3), seed=0)
    assert model.count_params() == RESNET20_PARAMS_RGB
    assert _trainable_count(model) == RESNET20_TRAINABLE_RGB
    gray = build_backbone("resnet20", (28, 28, 1), seed=0)
    assert gray.count_params() == RESNET20_PARAMS_GRAY


# Option B adds a 1x1 conv and BN where the shape changes: 16*32 + 32*64 = 2,560 kernel weights
# and 32 + 64 = 96 BN channels (2*96 trainable, 2*96 moving statistics).
RESNET20_B_EXTRA_TRAINABLE = 2_560 + 2 * 96


def test_resnet20_option_b_shortcut_hand_derived():
    model = build_backbone("resnet20", (30, 30, 3), seed=0, shortcut="b")
    assert _trainable_count(model) == RESNET20_TRAINABLE_RGB + RESNET20_B_EXTRA_TRAINABLE
    assert model.count_params() == RESNET20_PARAMS_RGB + RESNET20_B_EXTRA_TRAINABLE + 2 * 96
    assert not any(isinstance(l, SubsampleZeroPad) for l in model.layers)
    # Odd sizes: the 1x1 stride-2 shortcut samples pixels 0, 2, 4, ... like the residual branch.
    assert model.get_layer("stage2_block1_conv_shortcut").output.shape[1:3] == (15, 15)
    assert model.get_layer("stage3_block1_conv_shortcut").output.shape[1:3] == (8, 8)
    shortcut = model.get_layer("stage2_block1_conv_shortcut")
    assert shortcut.kernel.shape == (1, 1, 16, 32) and shortcut.strides == (2, 2)
    x = np.random.default_rng(0).normal(size=(1, 30, 30, 16)).astype("float32")
    expected = np.einsum("bhwc,cf->bhwf", x[:, ::2, ::2, :], np.asarray(shortcut.kernel)[0, 0])
    np.testing.assert_allclose(np.asarray(shortcut(x)), expected, rtol=1e-5, atol=1e-5)


def test_shortcut_b_is_for_resnet20_only():
    with pytest.raises(ValueError, match=r"shortcut must be one of \('a', 'b'\), got 'c'"):
        build_backbone("resnet20", (32, 32, 3), shortcut="c")
    with pytest.raises(ValueError, match=r"shortcut='b' applies to the resnet20 backbones only"):
        build_backbone("alexnet_cifar", (32, 32, 3), shortcut="b")


def test_alexnet_cifar_param_count_hand_derived():
    model = build_backbone("alexnet_cifar", (32, 32, 3), seed=0)
    assert model.count_params() == ALEXNET_PARAMS_RGB
    conv_filters = [
        layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    ]
    assert conv_filters == [64, 192, 384, 256, 256]


@pytest.mark.parametrize("name", ["resnet20", "alexnet_cifar"])
def test_cifar_backbone_output_nonnegative(name):
    model = build_backbone(name, (32, 32, 3), seed=1)
    images = 3.0 * _images((32, 32, 3), batch=4, seed=1)
    for training in (False, True):
        features = np.asarray(model(images, training=training))
        assert features.min() >= 0.0
        assert features.max() > 0.0
    assert isinstance(model.layers[-1], keras.layers.ReLU)


@pytest.mark.parametrize(
    "name, input_shape",
    [("resnet20", (32, 32, 3)), ("alexnet_cifar", (28, 28, 1)), ("keras:MobileNetV2", (28, 28, 1))],
)
def test_build_backbone_same_seed_identical_weights(name, input_shape):
    first = build_backbone(name, input_shape, seed=7).get_weights()
    second = build_backbone(name, input_shape, seed=7).get_weights()
    other = build_backbone(name, input_shape, seed=8).get_weights()
    assert len(first) == len(second) == len(other)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not all(np.array_equal(a, c) for a, c in zip(first, other))


def test_build_backbone_seed_restores_python_random_state():
    random.seed(123)
    expected = random.random()
    random.seed(123)
    build_backbone("keras:MobileNetV2", (32, 32, 3), seed=5)
    assert random.random() == expected


def test_resnet20_layers_have_distinct_seeded_kernels():
    model = build_backbone("resnet20", (32, 32, 3), seed=0)
    a = model.get_layer("stage1_block1_conv1").kernel.numpy()
    b = model.get_layer("stage1_block1_conv2").kernel.numpy()
    assert not np.array_equal(a, b)
    # Keras he_normal: truncated normal rescaled so that the std is sqrt(2 / fan_in);
    # 2,304 samples give a relative standard error of the std of ~1.5%.
    std = np.sqrt(2.0 / (3 * 3 * 16))
    assert 0.93 * std < a.std() < 1.07 * std
    assert np.abs(a).max() <= 2.0 * std / 0.87962566103423978 + 1e-6


def test_resnet152_top2_trainable_only_top_two_blocks(resnet152_gray):
    names = {v.path.split("/")[0] for v in resnet152_gray.trainable_weights}
    assert names, "no trainable weights"
    assert all(n.startswith(("conv5_block2_", "conv5_block3_")) for n in names)
    for block in (2, 3):
        for i in (1, 2, 3):
            assert f"conv5_block{block}_{i}_conv" in names
            assert f"conv5_block{block}_{i}_bn" in names
    assert "conv5_block1_3_conv" not in names
    assert _trainable_count(resnet152_gray) == RESNET152_TOP2_TRAINABLE


def test_resnet152_top2_frozen_bn_runs_in_inference_mode(resnet152_gray):
    frozen = resnet152_gray.get_layer("conv5_block1_3_bn")
    top = resnet152_gray.get_layer("conv5_block3_3_bn")
    assert not frozen.trainable and top.trainable
    bn_layers = [
        layer
        for layer in resnet152_gray.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert all(
        layer.trainable == layer.name.startswith(("conv5_block2_", "conv5_block3_"))
        for layer in bn_layers
    )
    x = 5.0 + 3.0 * _images((4, 4, 2048), seed=2)
    np.testing.assert_allclose(
        np.asarray(frozen(x, training=True)),
        np.asarray(frozen(x, training=False)),
        rtol=1e-5,
        atol=1e-5,
    )
    assert not np.allclose(
        np.asarray(top(x, training=True)), np.asarray(top(x, training=False)), atol=1e-3
    )
    frozen_mean = frozen.moving_mean.numpy().copy()
    top_mean = top.moving_mean.numpy().copy()
    resnet152_gray(_images((32, 32, 1), seed=3), training=True)
    np.testing.assert_array_equal(frozen.moving_mean.numpy(), frozen_mean)
    assert not np.array_equal(top.moving_mean.numpy(), top_mean)


def test_resnet152_top2_weight_decay_on_trainable_convs_only(resnet152_gray):
    losses = resnet152_gray.losses
    assert len(losses) == 6  # three trainable convs in each of the two blocks
    kernels = [
        resnet152_gray.get_layer(f"conv5_block{b}_{i}_conv").kernel.numpy()
        for b in (2, 3)
        for i in (1, 2, 3)
    ]
    expected = 1e-4 / 2 * sum(float(np.sum(np.square(k))) for k in kernels)
    np.testing.assert_allclose(float(sum(np.asarray(l) for l in losses)), expected, rtol=1e-4)


def test_resnet20_weight_decay_is_half_l2():
    model = build_backbone("resnet20", (16, 16, 3), weight_decay=1e-4, seed=0)
    kernels = [
        layer.kernel.numpy() for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    ]
    assert len(model.losses) == len(kernels) == 19
    expected = 1e-4 / 2 * sum(float(np.sum(np.square(k))) for k in kernels)
    np.testing.assert_allclose(float(sum(np.asarray(l) for l in model.losses)), expected, rtol=1e-5)
    assert build_backbone("resnet20", (16, 16, 3), seed=0).losses == []


def test_keras_mobilenetv2_weight_decay_on_all_conv_kernels():
    model = build_backbone("keras:MobileNetV2", (32, 32, 3), weight_decay=5e-4, seed=0)
    convs = [
        l
        for l in model.layers
        if isinstance(l, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
    ]
    assert len(model.losses) == len(convs) > 0


def test_keras_mobilenetv2_grayscale_upsampled_to_min_size():
    model = build_backbone("keras:MobileNetV2", (28, 28, 1), seed=0)
    assert tuple(model.get_layer("upsample_to_min_size").output.shape) == (None, 32, 32, 1)
    assert tuple(model.get_layer("grayscale_to_rgb").output.shape) == (None, 32, 32, 3)
    assert all(layer.trainable for layer in model.layers)
    reference = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    assert _trainable_count(model) == _trainable_count(reference)


def test_keras_application_resize_keeps_aspect_ratio():
    model = build_backbone("keras:MobileNetV2", (16, 40, 3), seed=0)
    assert tuple(model.get_layer("upsample_to_min_size").output.shape) == (None, 32, 80, 3)
    assert [l.name for l in model.layers if l.name == "grayscale_to_rgb"] == []


def test_keras_application_built_without_preprocessing_layers():
    model = build_backbone("keras:MobileNetV3Small", (32, 32, 3), seed=0)
    assert not any(
        isinstance(l, (keras.layers.Rescaling, keras.layers.Normalization)) for l in model.layers
    )


def test_subsample_zero_pad_hand_values():
    x = np.arange(1 * 3 * 3 * 2, dtype="float32").reshape(1, 3, 3, 2)
    y = np.asarray(SubsampleZeroPad(6, 2)(x))
    assert y.shape == (1, 2, 2, 6)
    np.testing.assert_array_equal(y[..., 2:4], x[:, ::2, ::2, :])
    np.testing.assert_array_equal(y[..., :2], 0.0)
    np.testing.assert_array_equal(y[..., 4:], 0.0)
    assert SubsampleZeroPad(6, 2).compute_output_shape((None, 3, 3, 2)) == (None, 2, 2, 6)


def test_resnet20_keras_file_round_trip(tmp_path):
    model = build_backbone("resnet20", (16, 16, 3), seed=0)
    path = tmp_path / "resnet20.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    images = _images((16, 16, 3))
    np.testing.assert_allclose(
        np.asarray(loaded(images)), np.asarray(model(images)), rtol=1e-6, atol=1e-6
    )


def test_build_backbone_loads_local_weights_file(tmp_path):
    source = build_backbone("resnet20", (32, 32, 3), seed=0)
    path = tmp_path / "resnet20.weights.h5"
    source.save_weights(path)
    loaded = build_backbone("resnet20", (32, 32, 3), weights=str(path), seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(source.get_weights(), loaded.get_weights()))


def test_build_backbone_loads_legacy_h5_application_weights(tmp_path):
    # Same format as the files keras.applications downloads (*_notop.h5).
    source = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    path = tmp_path / "mobilenet_v2_notop.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    loaded = build_backbone("keras:MobileNetV2", (28, 28, 1), weights=str(path), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(source.get_weights(), loaded.get_weights()))


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_build_backbone_mismatched_weights_file_raises(tmp_path):
    path = tmp_path / "alexnet.weights.h5"
    build_backbone("alexnet_cifar", (16, 16, 3), seed=0).save_weights(path)
    with pytest.raises(ValueError, match="does not fit backbone 'resnet20'") as info:
        build_backbone("resnet20", (16, 16, 3), weights=str(path))
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.filterwarnings("ignore:`input_shape` is undefined or non-square")
@pytest.mark.parametrize("name", ["keras:MobileNetV2", "resnet152_top2"])
def test_build_backbone_imagenet_offline_raises_clear_error(monkeypatch, name):
    def fail(fname, origin=None, *args, **kwargs):
        raise Exception(
            f"URL fetch failure on {origin}: None -- [Errno -2] Name or service not known"
        )

    monkeypatch.setattr(file_utils, "get_file", fail)
    with pytest.raises(ValueError, match="could not be downloaded") as info:
        build_backbone(name, (32, 32, 3), weights="imagenet")
    message = str(info.value)
    assert "\n" not in message
    assert "weights=None" in message and "local weights file" in message and name in message


@pytest.mark.parametrize(
    "name, match",
    [
        (
            "resnet18",
            r"unknown backbone name 'resnet18'; "
            r"allowed: 'resnet20', 'resnet20_stem2', 'resnet20_stem2_k128', 'alexnet_cifar', "
            r"'resnet152_top2', 'efficientnet_lite0', 'efficientnet_lite0_top2', 'convmixer', "
            r"'convmixer_small', 'vit' or 'keras:<Name>'",
        ),
        ("keras:MobileNetV9", r"unknown keras.applications model 'MobileNetV9'.*MobileNetV2"),
        ("keras:", r"unknown keras.applications model ''"),
        (None, r"backbone name must be a string"),
    ],
)
def test_build_backbone_unknown_name_raises(name, match):
    with pytest.raises(ValueError, match=match) as info:
        build_backbone(name, (32, 32, 3))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "input_shape, match",
    [
        ((32, 32), r"input_shape must be \(H, W, C\) with 3 positive integers, got \(32, 32\)"),
        ((32, 32, 3, 1), r"got \(32, 32, 3, 1\)"),
        ((32, None, 3), r"got \(32, None, 3\)"),
        ((32, 0, 3), r"got \(32, 0, 3\)"),
        ((32, 32, 2), r"has C=2 channels; allowed C: 1 or 3"),
        ((32, 32, 4), r"has C=4 channels"),
        (32, r"got 32"),
    ],
)
def test_build_backbone_bad_input_shape_raises(input_shape, match):
    with pytest.raises(ValueError, match=match):
        build_backbone("resnet20", input_shape)


@pytest.mark.parametrize(
    "name, input_shape, minimum",
    [
        ("resnet20", (7, 32, 3), 8),
        ("alexnet_cifar", (32, 4, 1), 8),
        ("resnet152_top2", (28, 28, 1), 32),
    ],
)
def test_build_backbone_too_small_input_raises(name, input_shape, minimum):
    message = (
        f"input_shape {input_shape} is too small for backbone '{name}'; "
        f"H and W must be >= {minimum}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        build_backbone(name, input_shape)


def test_build_backbone_smallest_input_builds():
    assert build_backbone("resnet20", (8, 8, 1), seed=0).output.shape[1:] == (2, 2, 64)


def test_build_backbone_missing_weights_path_raises(tmp_path):
    missing = tmp_path / "nowhere" / "w.weights.h5"
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        build_backbone("resnet20", (32, 32, 3), weights=str(missing))
    assert str(missing) in str(info.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_backbone("keras:MobileNetV2", (32, 32, 3), weights=missing)


def test_build_backbone_bad_weights_values_raise(tmp_path):
    message = (
        "weights='imagenet' needs a keras.applications backbone; "
        "allowed here: None or a local weights file path"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        build_backbone("resnet20", (32, 32, 3), weights="imagenet")
    bad = tmp_path / "weights.npz"
    bad.write_bytes(b"")
    with pytest.raises(
        ValueError, match=r"unsupported extension; allowed: .h5, .hdf5, .weights.h5, .keras"
    ) as info:
        build_backbone("alexnet_cifar", (32, 32, 3), weights=str(bad))
    assert str(bad) in str(info.value)
    with pytest.raises(
        ValueError, match=r"weights must be None, 'imagenet' or a local weights file path, got 3"
    ):
        build_backbone("keras:MobileNetV2", (32, 32, 3), weights=3)


@pytest.mark.parametrize("weight_decay", [-1e-4, float("nan"), float("inf"), "1e-4", True])
def test_build_backbone_bad_weight_decay_raises(weight_decay):
    with pytest.raises(ValueError, match="weight_decay must be a finite number >= 0"):
        build_backbone("resnet20", (32, 32, 3), weight_decay=weight_decay)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_build_backbone_bad_seed_raises(seed):
    with pytest.raises(ValueError, match="seed must be None or an integer >= 0"):
        build_backbone("resnet20", (32, 32, 3), seed=seed)


def test_feature_channels_bad_input_raises():
    with pytest.raises(ValueError, match="backbone must be a keras.Model"):
        feature_channels("resnet20")
    inputs = keras.Input((4,))
    flat = keras.Model(inputs, keras.layers.Dense(3)(inputs), name="flat")
    with pytest.raises(
        ValueError, match=r"backbone 'flat' must have one output of shape \[B, h, w, K\]"
    ):
        feature_channels(flat)


def test_backbones_constant_lists_builtin_names():
    assert BACKBONES == ("resnet20", "resnet20_stem2", "resnet20_stem2_k128", "alexnet_cifar",
                         "resnet152_top2", "efficientnet_lite0", "efficientnet_lite0_top2",
                         "convmixer", "convmixer_small", "vit")


@pytest.mark.parametrize("name, filters", [("resnet20_stem2", 64), ("resnet20_stem2_k128", 128)])
def test_64_pixel_resnet20_variants_keep_an_8x8_map(name, filters):
    model = build_backbone(name, (64, 64, 3), shortcut="b", seed=0)
    assert model.output.shape[1:] == (8, 8, filters)
    assert model.get_layer("stem_conv").strides == (2, 2)
    plain = build_backbone("resnet20", (64, 64, 3), shortcut="b", seed=0)
    assert plain.output.shape[1:] == (16, 16, 64)
    # The stem stride changes no weight shape: the K = 64 variant has ResNet20's parameters.
    if filters == 64:
        assert model.count_params() == plain.count_params()
