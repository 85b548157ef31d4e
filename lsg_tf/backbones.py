"""Convolutional backbones: images to the last convolutional feature map.

A backbone is a Keras Functional model that maps images to the feature map
of its LAST convolutional layer, with no pooling and no classifier:

    images [B, H, W, C] float32  ->  features [B, h, w, K] float32

The LSG model adds global average pooling, the label-sensitive gate (of
width ``K``, see paper section 3.2) and a Dense classifier on top. Images are
expected to be normalised by the caller (per channel, with data-set
statistics); no backbone rescales its inputs itself, except the
``keras:EfficientNetB*`` applications, whose built-in ``Rescaling(1/255)`` +
ImageNet ``Normalization`` layers cannot be switched off (see below).

Backbones (paper section 4, "Training setting", and section 4.3):

* ``"resnet20"``: CIFAR ResNet20 of He et al. (2016), section 4.2, used by
  the paper for CIFAR-10 (sections 4.1, 4.2, 4.3, 4.5). Layers::

      conv 3x3, 16                                  -> BN -> ReLU
      stage 1: 3 basic blocks, 16 filters, stride 1
      stage 2: 3 basic blocks, 32 filters, stride 2 in the first block
      stage 3: 3 basic blocks, 64 filters, stride 2 in the first block

  A basic block is ``conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> (+ shortcut)
  -> ReLU``. Shortcuts are identities; where the shape changes (first block
  of stages 2 and 3) the shortcut is He et al.'s option A, as in their CIFAR
  experiments: subsample by 2 (``x[:, ::2, ::2, :]``) and zero-pad the
  channels (half of the new channels before, half after), which has no
  parameters (layer ``SubsampleZeroPad``); ``shortcut="b"`` uses option B
  instead, a 1x1 stride-2 convolution and BN (``{block}_conv_shortcut``,
  ``{block}_bn_shortcut``; 2,752 more trainable parameters, as in common PyTorch
  ports). Stride-2 convolutions pad one
  pixel on every side and then use ``"valid"`` padding (like PyTorch's
  ``padding=1``), so the residual branch and the shortcut sample the same
  pixels for even and odd input sizes. Convolutions have no bias, he_normal
  kernels (Keras' truncated normal, stddev sqrt(2 / fan_in)); BN uses
  momentum 0.9 and epsilon 1e-5 (PyTorch defaults, the paper's framework).
  The last op is the ReLU after the last block, so features are >= 0.
  K = 64; 270,448 parameters (269,072 trainable + 1,376 BN moving
  statistics); with a Dense(10) head, 269,722 trainable (He et al.: 0.27M).
  Input size >= 8x8; feature map ceil(H/4) x ceil(W/4) (8x8 for 32x32,
  7x7 for 28x28).

* ``"alexnet_cifar"``: a CIFAR-sized AlexNet (Krizhevsky et al., 2012), the
  second network of section 4.3 (m = 25 dominant filters per class of its
  last conv layer implies K = 256). Layers::

      conv 5x5, 64,  stride 1, same -> BN -> ReLU -> maxpool 3x3 / 2, same
      conv 5x5, 192, stride 1, same -> BN -> ReLU -> maxpool 3x3 / 2, same
      conv 3x3, 384, stride 1, same -> BN -> ReLU
      conv 3x3, 256, stride 1, same -> BN -> ReLU
      conv 3x3, 256, stride 1, same -> BN -> ReLU      (features, K = 256)

  BN (not in the original AlexNet) is added after every convolution so that
  the network trains with the ResNet20 recipe (SGD, learning rate 0.1);
  convolutions have no bias, he_normal kernels, BN as in ResNet20. The last
  op is a ReLU. 2,454,720 parameters (2,452,416 trainable). Input size >=
  8x8; feature map ceil(H/4) x ceil(W/4).

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

Weights: ``None`` (random initialisation), ``"imagenet"`` (``keras.applications``
backbones only; Keras downloads the file, or reuses its cache in
``~/.keras/models``), or the path of a local weights file (``.h5``/``.hdf5``
legacy files such as the ones Keras downloads, ``.weights.h5`` or
``.keras``), loaded with ``keras.Model.load_weights`` into the built backbone.

Weight decay: ``weight_decay = wd > 0`` attaches
``keras.regularizers.L2(wd / 2)`` to convolution kernels (not to BN or
biases), i.e. the penalty ``wd / 2 * ||W||^2`` whose gradient is ``wd * W``:
the same as SGD ``weight_decay=wd`` in PyTorch (the paper's framework) and in
He et al. (2016) (1e-4 for ResNet20). For ``resnet152_top2`` only the
trainable convolutions (top two blocks) are regularised; for ``keras:<Name>``
all convolution kernels (Conv, DepthwiseConv and SeparableConv layers;
Dense layers used as pointwise convolutions, e.g. in ConvNeXt, are not).
The penalties appear in ``model.losses``, which ``Model.fit`` adds to the
loss; a custom training step must add ``sum(model.losses)`` itself.

Seed: with ``seed`` given, initialisation is deterministic. ``resnet20`` and
``alexnet_cifar`` give every layer's kernel initializer its own integer seed,
drawn from ``random.Random(seed)``. ``keras.applications`` models take no
initializer arguments; they are built while Python's global ``random``
module is seeded with ``seed`` (which is where Keras draws the seeds of
unseeded initializers), and its previous state is restored afterwards.
NumPy and TensorFlow global seeds are never touched.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import random
import urllib.error
from typing import Iterator

import keras

from lsg_tf.batch_norm import FusedBatchNormalization
from lsg_tf.choices import BATCH_NORMS, INITIALIZERS, SHORTCUTS, WEIGHT_DECAY_SCOPES

BACKBONES = ("resnet20", "alexnet_cifar", "resnet152_top2")
"""Names of the built-in backbones; ``"keras:<ApplicationName>"`` also works."""

KERAS_PREFIX = "keras:"

_CIFAR_MIN_SIZE = 8
_DEFAULT_APPLICATION_MIN_SIZE = 32
# Minimum input sizes enforced by keras.applications (imagenet_utils.
# obtain_input_shape); all other applications use 32.
_APPLICATION_MIN_SIZE = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}
_WEIGHTS_SUFFIXES = (".h5", ".hdf5", ".keras")  # ".weights.h5" ends with ".h5".
_RESNET152_TRAINABLE_PREFIXES = ("conv5_block2_", "conv5_block3_")
_BN_MOMENTUM = 0.9  # PyTorch momentum=0.1.
_BN_EPSILON = 1e-5
_CONV_TYPES = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
)


@keras.saving.register_keras_serializable(package="lsg_tf")
class SubsampleZeroPad(keras.layers.Layer):
    """Parameter-free shortcut of He et al. (2016), option A.

    Keeps every ``stride``-th pixel (starting at 0) and zero-pads the channel
    axis to ``out_channels``: ``(out_channels - C) // 2`` zero channels
    before the input channels, the rest after.

    Args:
        out_channels: Number of output channels, >= the input channels.
        stride: Spatial subsampling factor.

    Call args:
        inputs: float tensor [B, H, W, C].

    Returns:
        float tensor [B, ceil(H / stride), ceil(W / stride), out_channels].
    """

    def __init__(self, out_channels: int, stride: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.out_channels = int(out_channels)
        self.stride = int(stride)

    def call(self, inputs):
        channels = inputs.shape[-1]
        if channels > self.out_channels:
            raise ValueError(
                f"SubsampleZeroPad: input has {channels} channels, more than "
                f"out_channels={self.out_channels}"
            )
        x = inputs[:, :: self.stride, :: self.stride, :]
        before = (self.out_channels - channels) // 2
        after = self.out_channels - channels - before
        return keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [before, after]])

    def compute_output_shape(self, input_shape):
        def sub(n):
            return None if n is None else -(-n // self.stride)

        return (input_shape[0], sub(input_shape[1]), sub(input_shape[2]), self.out_channels)

    def get_config(self):
        config = super().get_config()
        config.update({"out_channels": self.out_channels, "stride": self.stride})
        return config


def build_backbone(
    name: str,
    input_shape: tuple[int, int, int],
    weights: str | None = None,
    weight_decay: float = 0.0,
    seed: int | None = None,
    weight_decay_scope: str = "kernels",
    initializer: str = "he_normal",
    batch_norm: str = "keras",
    shortcut: str = "a",
) -> keras.Model:
    """Builds a backbone mapping images to its last conv feature map.

    See the module docstring for the exact architectures.

    Args:
        name: One of ``BACKBONES`` or ``"keras:<Name>"`` with ``<Name>`` a
            ``keras.applications`` function name (e.g. ``"keras:MobileNetV2"``).
        input_shape: ``(H, W, C)`` of one image, C in (1, 3); H, W >= 8 for
            ``resnet20``/``alexnet_cifar``, >= 32 for ``resnet152_top2``,
            >= 1 for ``keras:<Name>`` (upsampled inside the model if small).
        weights: ``None`` (random initialisation), ``"imagenet"``
            (``keras.applications`` backbones only) or the path of a local
            ``.h5``/``.hdf5``/``.weights.h5``/``.keras`` weights file.
        weight_decay: Decay coefficient >= 0; > 0 attaches
            ``keras.regularizers.L2(weight_decay / 2)`` to conv kernels.
        seed: Integer seed for a deterministic initialisation, or ``None``.
        weight_decay_scope: ``"kernels"`` (conv kernels only, He et al.'s recipe) or
            ``"all"`` (also BatchNorm scale and offset, PyTorch's ``SGD(weight_decay=...)``
            over every parameter); see ``WEIGHT_DECAY_SCOPES``.
        initializer: conv kernel initialisation of ``resnet20``/``alexnet_cifar``, one of
            ``INITIALIZERS``; ``keras.applications`` backbones keep their own.
        batch_norm: BatchNorm layer of ``resnet20``/``alexnet_cifar``, one of
            ``BATCH_NORMS``: ``"keras"`` (``keras.layers.BatchNormalization``) or
            ``"fused"`` (:class:`lsg_tf.batch_norm.FusedBatchNormalization`, the same
            layer on TensorFlow's fused kernel when training).
        shortcut: ``resnet20``'s projection shortcut where the shape changes, one of
            ``SHORTCUTS``: ``"a"`` (subsample and zero-pad the channels, He et al.'s CIFAR
            choice) or ``"b"`` (1x1 stride-2 convolution and BN).

    Returns:
        A Functional ``keras.Model`` mapping float32 images [B, H, W, C] to
        the last conv feature map [B, h, w, K], K = ``feature_channels(model)``.

    Raises:
        ValueError: Unknown name, bad ``input_shape``/``weight_decay``/
            ``seed``/``weights`` value, a weights file that does not fit the
            backbone, or ``"imagenet"`` weights that cannot be downloaded.
        FileNotFoundError: ``weights`` is a path that does not exist.
    """
    application = _parse_name(name)
    shape = _check_input_shape(input_shape)
    weight_decay = _check_weight_decay(weight_decay)
    _check_option("weight_decay_scope", weight_decay_scope, WEIGHT_DECAY_SCOPES)
    _check_option("initializer", initializer, INITIALIZERS)
    _check_option("batch_norm", batch_norm, BATCH_NORMS)
    _check_option("shortcut", shortcut, SHORTCUTS)
    if shortcut != "a" and name != "resnet20":
        raise ValueError(f"shortcut={shortcut!r} applies to backbone 'resnet20' only; "
                         f"backbone {name!r} allows shortcut='a'")
    seed = _check_seed(seed)
    weights = _check_weights(weights, allow_imagenet=name not in ("resnet20", "alexnet_cifar"))

    if name in ("resnet20", "alexnet_cifar"):
        _check_min_size(name, shape, _CIFAR_MIN_SIZE)
        conv = _conv_bn_relu_factory(weight_decay, seed, weight_decay_scope, initializer,
                                     batch_norm)
        if name == "resnet20":
            model = _resnet20(shape, conv, shortcut)
        else:
            model = _alexnet_cifar(shape, conv)
        if weights is not None:
            _load_weights(model, weights, name, shape)
        return model
    if name == "resnet152_top2":
        _check_min_size(name, shape, _DEFAULT_APPLICATION_MIN_SIZE)
        return _application_backbone(
            name, "ResNet152", shape, weights, weight_decay, seed,
            trainable_prefixes=_RESNET152_TRAINABLE_PREFIXES, decay_all=weight_decay_scope == "all")
    return _application_backbone(name, application, shape, weights, weight_decay, seed,
                                 trainable_prefixes=None, decay_all=weight_decay_scope == "all")


def feature_channels(backbone: keras.Model) -> int:
    """Returns K, the channel count of a backbone's output feature map.

    Args:
        backbone: A model from ``build_backbone`` (one output [B, h, w, K]).

    Returns:
        K, the number of filters of the last conv layer (the gate's width).

    Raises:
        ValueError: ``backbone`` is not a Keras model with a single rank-4
            output whose channel count is known.
    """
    if not isinstance(backbone, keras.Model):
        raise ValueError(f"backbone must be a keras.Model from build_backbone, got {type(backbone).__name__}")
    outputs = backbone.outputs
    if outputs is None or len(outputs) != 1 or len(outputs[0].shape) != 4 or outputs[0].shape[-1] is None:
        shapes = None if outputs is None else [tuple(o.shape) for o in outputs]
        raise ValueError(
            f"backbone {backbone.name!r} must have one output of shape [B, h, w, K] with known K, got {shapes}"
        )
    return int(outputs[0].shape[-1])


# --------------------------------------------------------------------------
# Validation.


def _application_names() -> list[str]:
    """Sorted names of the model functions in ``keras.applications``."""
    return sorted(
        n for n in dir(keras.applications) if n[:1].isupper() and callable(getattr(keras.applications, n))
    )


def _parse_name(name) -> str | None:
    """Returns the keras.applications name for ``keras:<Name>``, else None."""
    allowed = ", ".join(repr(b) for b in BACKBONES) + f" or '{KERAS_PREFIX}<Name>' (e.g. 'keras:MobileNetV2')"
    if not isinstance(name, str):
        raise ValueError(f"backbone name must be a string, got {name!r}; allowed: {allowed}")
    if name in BACKBONES:
        return None
    if name.startswith(KERAS_PREFIX):
        application = name[len(KERAS_PREFIX) :]
        names = _application_names()
        if application not in names:
            raise ValueError(
                f"unknown keras.applications model {application!r} in backbone name {name!r}; "
                f"allowed <Name> for '{KERAS_PREFIX}<Name>': {', '.join(names)}"
            )
        return application
    raise ValueError(f"unknown backbone name {name!r}; allowed: {allowed}")


def _check_input_shape(input_shape) -> tuple[int, int, int]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if (
        shape is None
        or len(shape) != 3
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        raise ValueError(f"input_shape must be (H, W, C) with 3 positive integers, got {input_shape!r}")
    if shape[2] not in (1, 3):
        raise ValueError(f"input_shape {shape} has C={shape[2]} channels; allowed C: 1 or 3")
    return shape


def _check_min_size(name: str, shape: tuple[int, int, int], min_size: int) -> None:
    if shape[0] < min_size or shape[1] < min_size:
        raise ValueError(
            f"input_shape {shape} is too small for backbone {name!r}; H and W must be >= {min_size}"
        )


def _check_weight_decay(weight_decay) -> float:
    if (
        isinstance(weight_decay, bool)
        or not isinstance(weight_decay, (int, float))
        or not math.isfinite(weight_decay)
        or weight_decay < 0
    ):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    return float(weight_decay)


def _check_option(name: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def _check_seed(seed) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
    return seed


def _check_weights(weights, allow_imagenet: bool) -> str | None:
    allowed = "None, 'imagenet' or a local weights file path" if allow_imagenet else "None or a local weights file path"
    if weights is None:
        return None
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str):
        raise ValueError(f"weights must be {allowed}, got {weights!r}")
    if weights == "imagenet":
        if not allow_imagenet:
            raise ValueError(f"weights='imagenet' needs a keras.applications backbone; allowed here: {allowed}")
        return weights
    if not os.path.exists(weights):
        raise FileNotFoundError(f"weights file {weights!r} does not exist; allowed weights: {allowed}")
    if not weights.endswith(_WEIGHTS_SUFFIXES):
        raise ValueError(
            f"weights file {weights!r} has an unsupported extension; allowed: .h5, .hdf5, .weights.h5, .keras"
        )
    return weights


def _load_weights(model: keras.Model, path: str, name: str, shape: tuple[int, int, int]) -> None:
    try:
        model.load_weights(path)
    except (ValueError, KeyError, OSError) as e:
        # Keras' messages span many lines and may print whole tensors.
        reason = " ".join(str(e).split()).split(" Target variable:")[0] or type(e).__name__
        if len(reason) > 300:
            reason = reason[:297] + "..."
        raise ValueError(
            f"weights file {path!r} does not fit backbone {name!r} with input_shape {shape}: {reason}"
        ) from e


# --------------------------------------------------------------------------
# CIFAR networks.


class _Initializers:
    """Makes conv kernel initializers of one kind, each with its own seed if seeded.

    ``he_normal``: truncated normal, stddev sqrt(2 / fan_in) (per-filter ||w||² ≈ 2).
    ``torch_default``: PyTorch's ``Conv2d`` default, kaiming-uniform with a = sqrt(5), i.e.
    uniform in ±sqrt(1 / fan_in) (||w||² ≈ 1/3): behind BatchNorm a step of the same size moves
    a smaller kernel further, so SGD's effective learning rate is about 6x larger.
    """

    def __init__(self, seed: int | None, kind: str = "he_normal"):
        self._rng = None if seed is None else random.Random(seed)
        self._kind = kind

    def __call__(self) -> keras.initializers.Initializer:
        seed = None if self._rng is None else self._rng.randrange(2**31 - 1)
        if self._kind == "torch_default":
            return keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform", seed=seed)
        return keras.initializers.HeNormal(seed=seed)


def _regularizer(weight_decay: float):
    return keras.regularizers.L2(weight_decay / 2.0) if weight_decay > 0 else None


def _conv_bn_relu_factory(weight_decay: float, seed: int | None, scope: str = "kernels",
                          initializer: str = "he_normal", batch_norm: str = "keras"):
    """Returns ``conv(x, filters, kernel, stride, prefix, suffix, relu=True)``.

    The returned function applies conv (no bias) -> BN [-> ReLU], with layers
    named ``{prefix}conv{suffix}``, ``{prefix}bn{suffix}``, ``{prefix}relu{suffix}``
    (and ``{prefix}pad{suffix}`` before a strided convolution).
    """
    init = _Initializers(seed, initializer)
    regularizer = _regularizer(weight_decay)
    bn_regularizer = regularizer if scope == "all" else None
    bn_layer = FusedBatchNormalization if batch_norm == "fused" else keras.layers.BatchNormalization

    def conv(x, filters, kernel, stride, prefix, suffix, relu=True):
        padding = "same"
        if stride > 1 and kernel > 1:
            # Symmetric padding as in PyTorch (padding=k//2): output pixel i
            # is centred on input pixel stride * i for any input size.
            x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{prefix}pad{suffix}")(x)
            padding = "valid"
        x = keras.layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding=padding,
            use_bias=False,
            kernel_initializer=init(),
            kernel_regularizer=regularizer,
            name=f"{prefix}conv{suffix}",
        )(x)
        x = bn_layer(
            momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, name=f"{prefix}bn{suffix}",
            gamma_regularizer=bn_regularizer, beta_regularizer=bn_regularizer,
        )(x)
        if relu:
            x = keras.layers.ReLU(name=f"{prefix}relu{suffix}")(x)
        return x

    return conv


def _resnet20(shape, conv, shortcut: str = "a") -> keras.Model:
    """CIFAR ResNet20 (He et al. 2016, section 4.2, n = 3, shortcut option A or B)."""
    inputs = keras.Input(shape=shape, name="images")
    x = conv(inputs, 16, 3, 1, "stem_", "")
    for stage, filters in enumerate((16, 32, 64), start=1):
        for block in range(1, 4):
            stride = 2 if (stage > 1 and block == 1) else 1
            prefix = f"stage{stage}_block{block}_"
            y = conv(x, filters, 3, stride, prefix, "1")
            y = conv(y, filters, 3, 1, prefix, "2", relu=False)
            if stride != 1 or x.shape[-1] != filters:
                if shortcut == "b":
                    x = conv(x, filters, 1, stride, prefix, "_shortcut", relu=False)
                else:
                    x = SubsampleZeroPad(filters, stride, name=f"{prefix}shortcut")(x)
            x = keras.layers.Add(name=f"{prefix}add")([x, y])
            x = keras.layers.ReLU(name=f"{prefix}out")(x)
    return keras.Model(inputs, x, name="resnet20")


def _alexnet_cifar(shape, conv) -> keras.Model:
    """CIFAR-sized AlexNet with BN (five convolutions, K = 256)."""
    inputs = keras.Input(shape=shape, name="images")
    x = conv(inputs, 64, 5, 1, "", "1")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = conv(x, 192, 5, 1, "", "2")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    x = conv(x, 384, 3, 1, "", "3")
    x = conv(x, 256, 3, 1, "", "4")
    x = conv(x, 256, 3, 1, "", "5")
    return keras.Model(inputs, x, name="alexnet_cifar")


# --------------------------------------------------------------------------
# keras.applications networks.


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


def _application_backbone(name, application, shape, weights, weight_decay, seed, trainable_prefixes,
                          decay_all=False):
    """Builds a keras.applications model as a flat backbone."""
    height, width, channels = shape
    min_size = _APPLICATION_MIN_SIZE.get(application, _DEFAULT_APPLICATION_MIN_SIZE)
    inputs = keras.Input(shape=shape, name="images")
    x = inputs
    if min(height, width) < min_size:
        scale = min_size / min(height, width)
        height = max(min_size, math.ceil(height * scale))
        width = max(min_size, math.ceil(width * scale))
        x = keras.layers.Resizing(height, width, interpolation="bilinear", name="upsample_to_min_size")(x)
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
                f"weights='imagenet' for backbone {name!r} could not be downloaded (no network access?); "
                "pass a local weights file path (.h5 / .weights.h5) or weights=None"
            ) from e
        raise

    model_name = "resnet152_top2" if name == "resnet152_top2" else f"keras_{application.lower()}"
    model = keras.Model(inputs, app.output, name=model_name)
    if weights not in (None, "imagenet"):
        _load_weights(model, weights, name, shape)

    if trainable_prefixes is not None:
        for layer in model.layers:
            layer.trainable = layer.name.startswith(trainable_prefixes)
    if weight_decay > 0:
        regularizer = _regularizer(weight_decay)
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
