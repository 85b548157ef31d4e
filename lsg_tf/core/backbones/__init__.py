"""Backbones: images to the last feature map, one module per family.

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

Families: :mod:`~lsg_tf.core.backbones.cifar` (``resnet20``, ``alexnet_cifar``),
:mod:`~lsg_tf.core.backbones.applications` (``resnet152_top2``, ``keras:<Name>``),
:mod:`~lsg_tf.core.backbones.lite` (``efficientnet_lite0*``) and two patch-based families:
:mod:`~lsg_tf.core.backbones.convmixer` (``convmixer``, ``convmixer_small``: convolutions on
patch embeddings at one resolution) and :mod:`~lsg_tf.core.backbones.vit` (``vit``, a
transformer whose tokens are reshaped back onto their grid, ``[B, h, w, D]``); their modules
describe the exact architectures. Argument checks: :mod:`~lsg_tf.core.backbones.checks`.

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

Seed: with ``seed`` given, initialisation is deterministic. ``resnet20``,
``alexnet_cifar``, ``convmixer*`` and ``vit`` give every layer's initializer its own integer seed,
drawn from ``random.Random(seed)``. ``keras.applications`` models take no
initializer arguments; they are built while Python's global ``random``
module is seeded with ``seed`` (which is where Keras draws the seeds of
unseeded initializers), and its previous state is restored afterwards.
NumPy and TensorFlow global seeds are never touched.
"""

from __future__ import annotations

import keras

from lsg_tf.core.backbones import applications, checks, cifar, convmixer, lite, vit
from lsg_tf.core.backbones.cifar import SubsampleZeroPad
from lsg_tf.core.choices import BATCH_NORMS, INITIALIZERS, SHORTCUTS, WEIGHT_DECAY_SCOPES

__all__ = ["BACKBONES", "KERAS_PREFIX", "SubsampleZeroPad", "build_backbone", "feature_channels",
           "frozen_split", "input_statistics"]

BACKBONES = (*cifar.RESNET20_VARIANTS, "alexnet_cifar", "resnet152_top2", *lite.NAMES,
             *convmixer.VARIANTS, *vit.NAMES)
"""Names of the built-in backbones; ``"keras:<ApplicationName>"`` also works."""

KERAS_PREFIX = "keras:"
_CIFAR_FAMILY = (*cifar.RESNET20_VARIANTS, "alexnet_cifar")
_TOKEN_FAMILY = (*convmixer.VARIANTS, *vit.NAMES)  # patch-embedding (token) models


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
            ``resnet20``/``alexnet_cifar``/``convmixer*``/``vit``, >= 32 for
            ``resnet152_top2``,
            >= 1 for ``keras:<Name>`` (upsampled inside the model if small).
        weights: ``None`` (random initialisation), ``"imagenet"``
            (``keras.applications`` backbones only) or the path of a local
            ``.h5``/``.hdf5``/``.weights.h5``/``.keras`` weights file.
        weight_decay: Decay coefficient >= 0; > 0 attaches
            ``keras.regularizers.L2(weight_decay / 2)`` to conv kernels (and to the Dense and
            attention kernels of ``vit``).
        seed: Integer seed for a deterministic initialisation, or ``None``.
        weight_decay_scope: ``"kernels"`` (conv kernels only, He et al.'s recipe) or
            ``"all"`` (also BatchNorm scale and offset, PyTorch's ``SGD(weight_decay=...)``
            over every parameter); see ``WEIGHT_DECAY_SCOPES``.
        initializer: conv kernel initialisation of ``resnet20``/``alexnet_cifar``, one of
            ``INITIALIZERS``; the other backbones keep their own.
        batch_norm: BatchNorm layer of ``resnet20``/``alexnet_cifar``/``convmixer*``, one of
            ``BATCH_NORMS``: ``"keras"`` (``keras.layers.BatchNormalization``) or
            ``"fused"`` (:class:`lsg_tf.core.batch_norm.FusedBatchNormalization`, the same
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
    shape = checks.check_input_shape(input_shape)
    weight_decay = checks.check_weight_decay(weight_decay)
    checks.check_option("weight_decay_scope", weight_decay_scope, WEIGHT_DECAY_SCOPES)
    checks.check_option("initializer", initializer, INITIALIZERS)
    checks.check_option("batch_norm", batch_norm, BATCH_NORMS)
    checks.check_option("shortcut", shortcut, SHORTCUTS)
    if shortcut != "a" and name not in cifar.RESNET20_VARIANTS:
        raise ValueError(f"shortcut={shortcut!r} applies to the resnet20 backbones only; "
                         f"backbone {name!r} allows shortcut='a'")
    seed = checks.check_seed(seed)
    weights = checks.check_weights(weights, allow_imagenet=name not in (*_CIFAR_FAMILY,
                                                                        *_TOKEN_FAMILY))

    if name in _CIFAR_FAMILY:
        checks.check_min_size(name, shape, cifar.MIN_SIZE)
        conv = cifar.conv_bn_relu_factory(weight_decay, seed, weight_decay_scope, initializer,
                                     batch_norm)
        if name in cifar.RESNET20_VARIANTS:
            model = cifar.resnet20(shape, conv, shortcut, name)
        else:
            model = cifar.alexnet_cifar(shape, conv)
        if weights is not None:
            checks.load_weights(model, weights, name, shape)
        return model
    if name in _TOKEN_FAMILY:
        decay_all = weight_decay_scope == "all"
        if name in vit.NAMES:
            checks.check_min_size(name, shape, vit.MIN_SIZE)
            model = vit.vit(shape, weight_decay=weight_decay, decay_all=decay_all, seed=seed,
                            name=name)
        else:
            checks.check_min_size(name, shape, convmixer.MIN_SIZE)
            width, depth, patch, kernel = convmixer.VARIANTS[name]
            model = convmixer.convmixer(shape, width, depth, patch, kernel, weight_decay,
                                        decay_all, seed, batch_norm, name)
        if weights is not None:
            checks.load_weights(model, weights, name, shape)
        return model
    if name in lite.NAMES:
        checks.check_min_size(name, shape, applications.DEFAULT_MIN_SIZE)
        return lite.build(name, shape, weights, weight_decay, seed)
    if name == "resnet152_top2":
        checks.check_min_size(name, shape, applications.DEFAULT_MIN_SIZE)
        return applications.application_backbone(
            name, "ResNet152", shape, weights, weight_decay, seed,
            trainable_prefixes=applications.RESNET152_TRAINABLE_PREFIXES,
            decay_all=weight_decay_scope == "all")
    return applications.application_backbone(name, application, shape, weights, weight_decay, seed,
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
        raise ValueError(
            f"backbone must be a keras.Model from build_backbone, got {type(backbone).__name__}")
    outputs = backbone.outputs
    if (outputs is None or len(outputs) != 1 or len(outputs[0].shape) != 4
            or outputs[0].shape[-1] is None):
        shapes = None if outputs is None else [tuple(o.shape) for o in outputs]
        raise ValueError(
            f"backbone {backbone.name!r} must have one output of shape [B, h, w, K] with known K, "
            f"got {shapes}"
        )
    return int(outputs[0].shape[-1])



def _parse_name(name) -> str | None:
    """Returns the keras.applications name for ``keras:<Name>``, else None."""
    allowed = (", ".join(repr(b) for b in BACKBONES)
               + f" or '{KERAS_PREFIX}<Name>' (e.g. 'keras:MobileNetV2')")
    if not isinstance(name, str):
        raise ValueError(f"backbone name must be a string, got {name!r}; allowed: {allowed}")
    if name in BACKBONES:
        return None
    if name.startswith(KERAS_PREFIX):
        application = name[len(KERAS_PREFIX) :]
        names = applications.application_names()
        if application not in names:
            raise ValueError(
                f"unknown keras.applications model {application!r} in backbone name {name!r}; "
                f"allowed <Name> for '{KERAS_PREFIX}<Name>': {', '.join(names)}"
            )
        return application
    raise ValueError(f"unknown backbone name {name!r}; allowed: {allowed}")


def frozen_split(name: str, backbone: keras.Model) -> tuple[keras.Model, keras.Model] | None:
    """``(frozen, top)`` of a backbone whose lower part is frozen and can be computed once
    (``top(frozen(x)) == backbone(x)``, ``top`` shares the backbone's layers); None for the
    other backbones."""
    return lite.frozen_split(name, backbone) if lite.NAMES.get(name) is not None else None


def input_statistics(name: str, weights: str | None):
    """Per-channel ``(mean, std)`` of inputs in [0, 1] that pretrained ``weights`` of
    backbone ``name`` expect, or None (normalise with the data set's statistics)."""
    return lite.INPUT_STATISTICS if name in lite.NAMES and weights == "imagenet" else None
