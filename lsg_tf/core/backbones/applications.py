"""``keras.applications`` networks as backbones: ``resnet152_top2`` and ``keras:<Name>``.

* ``"resnet152_top2"``: ``keras.applications.ResNet152(include_top=False)``
  with every layer frozen except the top two bottleneck blocks
  (layers ``conv5_block2_*`` and ``conv5_block3_*``), as the paper fine-tunes
  ResNet152 on PASCAL VOC (section 4, "Training setting"). Frozen
  BatchNormalization layers run in inference mode (Keras 3 semantics of
  ``trainable=False`` on BN); the BN layers of the two top blocks are
  trainable and use batch statistics in training. K = 2048. Input size >=
  32x32 (the application's minimum), no resizing.

* ``"keras:<Name>"``: any ``keras.applications`` model by its function name
  (e.g. ``keras:MobileNetV2``, ``keras:ResNet50``, ``keras:EfficientNetB0``)
  with ``include_top=False``; all layers trainable; K is the channel count of
  the application's last feature map (e.g. 1280 for MobileNetV2). Inputs
  smaller than the application's minimum size (75 for InceptionV3 and
  InceptionResNetV2, 71 for Xception, 32 for the others) are upsampled
  inside the model by a bilinear ``keras.layers.Resizing`` layer named
  ``upsample_to_min_size``, keeping the aspect ratio, so that the shorter
  side equals the minimum (28x28 -> 32x32). Applications that accept
  ``include_preprocessing`` (ConvNeXt*, EfficientNetV2*, MobileNetV3*) are
  built with ``include_preprocessing=False``, because inputs are already
  normalised.

Common behaviour of ``keras.applications`` backbones (``resnet152_top2`` and
``keras:<Name>``): grayscale inputs (C = 1) are repeated to 3 channels inside
the model (layer ``grayscale_to_rgb``). Their layers are part of the returned
model itself (not a nested sub-model), under the application's own layer
names. Their ImageNet weights were trained with the applications' own
preprocessing ([0, 255] or [-1, 1] inputs, or ImageNet mean/std); feeding
inputs normalised with data-set statistics instead is accepted here (the
fine-tuned layers adapt), but it is not the pre-training distribution.

"""

from __future__ import annotations

import contextlib
import inspect
import math
import random
import urllib.error
from typing import Iterator

import keras

from lsg_tf.core.backbones.checks import load_weights
from lsg_tf.core.backbones.cifar import l2_regularizer

DEFAULT_MIN_SIZE = 32
# Minimum input sizes enforced by keras.applications (imagenet_utils.
# obtain_input_shape); all other applications use 32.
_APPLICATION_MIN_SIZE = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}
RESNET152_TRAINABLE_PREFIXES = ("conv5_block2_", "conv5_block3_")
_CONV_TYPES = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
)


def application_names() -> list[str]:
    """Sorted names of the model functions in ``keras.applications``."""
    return sorted(
        n
        for n in dir(keras.applications)
        if n[:1].isupper() and callable(getattr(keras.applications, n))
    )


@contextlib.contextmanager
def _seeded_python_random(seed: int | None) -> Iterator[None]:
    """Seeds Python's ``random`` (Keras' source of default seeds), then restores it."""
    if seed is None:
        yield
        return
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def _is_download_failure(error: BaseException) -> bool:
    return isinstance(error, (urllib.error.URLError, ConnectionError, TimeoutError)) or (
        "URL fetch failure" in str(error)
    )


def application_backbone(name, application, shape, weights, weight_decay, seed, trainable_prefixes,
                          decay_all=False):
    """Builds a keras.applications model as a flat backbone."""
    height, width, channels = shape
    min_size = _APPLICATION_MIN_SIZE.get(application, DEFAULT_MIN_SIZE)
    inputs = keras.Input(shape=shape, name="images")
    x = inputs
    if min(height, width) < min_size:
        scale = min_size / min(height, width)
        height = max(min_size, math.ceil(height * scale))
        width = max(min_size, math.ceil(width * scale))
        x = keras.layers.Resizing(
            height, width, interpolation="bilinear", name="upsample_to_min_size"
        )(x)
    if channels == 1:
        x = keras.layers.Concatenate(axis=-1, name="grayscale_to_rgb")([x, x, x])

    fn = getattr(keras.applications, application)
    kwargs = dict(
        include_top=False,
        weights="imagenet" if weights == "imagenet" else None,
        input_tensor=x,
        input_shape=(height, width, 3),
    )
    if "include_preprocessing" in inspect.signature(fn).parameters:
        kwargs["include_preprocessing"] = False
    try:
        with _seeded_python_random(seed):
            app = fn(**kwargs)
    except Exception as e:
        if weights == "imagenet" and _is_download_failure(e):
            raise ValueError(
                f"weights='imagenet' for backbone {name!r} could not be downloaded "
                "(no network access?); "
                "pass a local weights file path (.h5 / .weights.h5) or weights=None"
            ) from e
        raise

    model_name = "resnet152_top2" if name == "resnet152_top2" else f"keras_{application.lower()}"
    model = keras.Model(inputs, app.output, name=model_name)
    if weights not in (None, "imagenet"):
        load_weights(model, weights, name, shape)

    if trainable_prefixes is not None:
        for layer in model.layers:
            layer.trainable = layer.name.startswith(trainable_prefixes)
    if weight_decay > 0:
        regularizer = l2_regularizer(weight_decay)
        for layer in model.layers:
            if decay_all and layer.trainable and isinstance(layer, keras.layers.BatchNormalization):
                for variable in layer.trainable_weights:
                    variable.regularizer = regularizer
            if not (layer.trainable and isinstance(layer, _CONV_TYPES)):
                continue
            for attr in ("kernel_regularizer", "depthwise_regularizer", "pointwise_regularizer"):
                if hasattr(layer, attr):
                    setattr(layer, attr, regularizer)
            for variable in layer.trainable_weights:
                if variable.name.endswith("kernel"):
                    variable.regularizer = regularizer
    return model
