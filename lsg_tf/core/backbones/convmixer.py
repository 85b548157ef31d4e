"""ConvMixer backbones (Trockman & Kolter, "Patches Are All You Need?", 2022).

A patch embedding, then ``depth`` blocks mixing space (depthwise) and channels (pointwise)
at one resolution; the last block's output is the feature map (no pooling, no head)::

    conv kernel = stride = patch, width filters, valid  -> GELU -> BN     (patch embedding)
    depth x [ depthwise conv kernel x kernel, same -> GELU -> BN, + input  (residual)
              conv 1x1, width filters            -> GELU -> BN ]

As in the paper's code every convolution has a bias; BN uses momentum 0.9 and epsilon 1e-5
(PyTorch defaults, as the CIFAR backbones), Keras' layer or, with ``batch_norm="fused"``, the
same layer on TensorFlow's fused kernel when training (the train CLI's default; on a 2-core
CPU it takes about half of Keras' BN time on these 16x16x256 maps). Kernels are he_normal
(the project's conv default; every convolution is followed by BN). The map is
``floor(H / patch) x floor(W / patch) x width`` (16x16x256 for 32x32 images with the
defaults); it feeds the gate directly, K = width. Its last layer is BN, so features can be
negative. The last convolution is the 1x1 pointwise one of the last block, a kernel of the
usual form for filter correlation.

* ``"convmixer"``: ConvMixer-256/8, patch 2, kernel 5 (the paper's CIFAR-10 setting at a CPU
  budget). 600,320 parameters (591,616 trainable + 8,704 BN moving statistics), about
  150 M multiply-adds per 32x32 image (ResNet20: 41 M).
* ``"convmixer_small"``: ConvMixer-128/4, patch 2, kernel 5; 85,632 parameters (83,328
  trainable).

Weight decay: ``kernels`` scope attaches ``L2(wd / 2)`` to the conv kernels (depthwise ones
included); ``all`` also to conv biases and BN scale and offset.
"""

from __future__ import annotations

import random

import keras

from lsg_tf.core.backbones.cifar import l2_regularizer
from lsg_tf.core.batch_norm import FusedBatchNormalization

WIDTH = 256
DEPTH = 8
PATCH = 2
KERNEL = 5
MIN_SIZE = 8
# Backbone name -> (width, depth, patch, kernel).
VARIANTS = {
    "convmixer": (WIDTH, DEPTH, PATCH, KERNEL),
    "convmixer_small": (128, 4, PATCH, KERNEL),
}
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


def convmixer(shape: tuple[int, int, int], width: int = WIDTH, depth: int = DEPTH,
              patch: int = PATCH, kernel: int = KERNEL, weight_decay: float = 0.0,
              decay_all: bool = False, seed: int | None = None, batch_norm: str = "keras",
              name: str = "convmixer") -> keras.Model:
    """ConvMixer-``width``/``depth`` mapping images ``shape`` to ``[B, H/patch, W/patch, width]``.

    Args:
        shape: ``(H, W, C)``, H and W >= ``patch``.
        width, depth, patch, kernel: the paper's h, d, p and k (kernel odd).
        weight_decay: ``L2(weight_decay / 2)`` on conv kernels (and, with ``decay_all``, on
            biases and BN parameters).
        seed: every layer's initializer gets its own seed from ``random.Random(seed)``.
        batch_norm: ``"keras"`` or ``"fused"`` (:mod:`lsg_tf.core.batch_norm`).
    """
    for label, value in (("width", width), ("depth", depth), ("patch", patch),
                         ("kernel", kernel)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"convmixer {label} must be an integer >= 1, got {value!r}")
    if kernel % 2 == 0:
        raise ValueError(f"convmixer kernel must be odd (same padding), got {kernel}")
    if shape[0] < patch or shape[1] < patch:
        raise ValueError(f"input_shape {shape} is smaller than convmixer patch {patch}")
    rng = None if seed is None else random.Random(seed)

    def init():
        return keras.initializers.HeNormal(seed=None if rng is None else rng.randrange(2**31 - 1))

    decay = l2_regularizer(weight_decay)
    extra = decay if decay_all else None
    bn_layer = FusedBatchNormalization if batch_norm == "fused" else keras.layers.BatchNormalization

    def gelu_bn(x, prefix):
        x = keras.layers.Activation("gelu", name=f"{prefix}gelu")(x)
        return bn_layer(
            momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, gamma_regularizer=extra,
            beta_regularizer=extra, name=f"{prefix}bn")(x)

    inputs = keras.Input(shape=shape, name="images")
    x = keras.layers.Conv2D(width, patch, strides=patch, padding="valid",
                            kernel_initializer=init(), kernel_regularizer=decay,
                            bias_regularizer=extra, name="patch_embed_conv")(inputs)
    x = gelu_bn(x, "patch_embed_")
    for block in range(1, depth + 1):
        prefix = f"block{block}_"
        y = keras.layers.DepthwiseConv2D(kernel, padding="same", depthwise_initializer=init(),
                                         depthwise_regularizer=decay, bias_regularizer=extra,
                                         name=f"{prefix}depthwise_conv")(x)
        y = gelu_bn(y, f"{prefix}depthwise_")
        x = keras.layers.Add(name=f"{prefix}add")([x, y])
        x = keras.layers.Conv2D(width, 1, kernel_initializer=init(), kernel_regularizer=decay,
                                bias_regularizer=extra, name=f"{prefix}pointwise_conv")(x)
        x = gelu_bn(x, f"{prefix}pointwise_")
    return keras.Model(inputs, x, name=name)
