"""CIFAR-sized backbones built here: ``resnet20`` and ``alexnet_cifar`` (paper section 4).

``resnet20_stem2`` and ``resnet20_stem2_k128`` are ResNet20 for 64x64 images (Tiny ImageNet):
the stem convolution has stride 2, so the last map is 8x8 at the cost of a 32x32 ResNet20;
``_k128`` widens the last stage to 128 filters (K = 128, about twice the cost), room for
class-specific filters of a few dozen classes.

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

"""

from __future__ import annotations

import random

import keras

from lsg_tf.core.batch_norm import FusedBatchNormalization

_BN_MOMENTUM = 0.9  # PyTorch momentum=0.1.
_BN_EPSILON = 1e-5
MIN_SIZE = 8  # H and W of the smallest input (feature map ceil(H/4) x ceil(W/4))


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


def l2_regularizer(weight_decay: float):
    return keras.regularizers.L2(weight_decay / 2.0) if weight_decay > 0 else None


def conv_bn_relu_factory(weight_decay: float, seed: int | None, scope: str = "kernels",
                          initializer: str = "he_normal", batch_norm: str = "keras"):
    """Returns ``conv(x, filters, kernel, stride, prefix, suffix, relu=True)``.

    The returned function applies conv (no bias) -> BN [-> ReLU], with layers
    named ``{prefix}conv{suffix}``, ``{prefix}bn{suffix}``, ``{prefix}relu{suffix}``
    (and ``{prefix}pad{suffix}`` before a strided convolution).
    """
    init = _Initializers(seed, initializer)
    regularizer = l2_regularizer(weight_decay)
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


# ResNet20 and its 64-pixel variants: (stem stride, stage widths). A stride-2 stem keeps a
# 64x64 image's last map at 8x8 (as 32x32 CIFAR images have) for the cost of a 32x32 one.
RESNET20_VARIANTS = {
    "resnet20": (1, (16, 32, 64)),
    "resnet20_stem2": (2, (16, 32, 64)),
    "resnet20_stem2_k128": (2, (16, 32, 128)),
}


def resnet20(shape, conv, shortcut: str = "a", name: str = "resnet20") -> keras.Model:
    """CIFAR ResNet20 (He et al. 2016, section 4.2, n = 3, shortcut option A or B), or one of
    its variants in :data:`RESNET20_VARIANTS`."""
    stem_stride, widths = RESNET20_VARIANTS[name]
    inputs = keras.Input(shape=shape, name="images")
    x = conv(inputs, widths[0], 3, stem_stride, "stem_", "")
    for stage, filters in enumerate(widths, start=1):
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
    return keras.Model(inputs, x, name=name)


def alexnet_cifar(shape, conv) -> keras.Model:
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

