"""A small Vision Transformer backbone whose tokens are put back on their grid.

The transformer of Dosovitskiy et al. ("An Image is Worth 16x16 Words", ViT, 2021) on the
convolutional tokenizer of Compact Convolutional Transformers (Hassani et al., "Escaping the
Big Data Paradigm with Compact Transformers", CCT, 2021), sized for a 2-core CPU::

    tokenizer_layers x [conv 3x3, same, no bias -> ReLU -> maxpool 3x3 / 2, same]
    reshape [B, h, w, D] -> [B, h*w, D] + learned position embedding -> dropout
    depth x pre-norm blocks:
        x + drop_path(MHA(LN(x)))                         (heads heads, key size D / heads)
        x + drop_path(Dense(D)(dropout(GELU(Dense(mlp_ratio * D)(LN(x))))))
    LN -> reshape [B, h*w, D] -> [B, h, w, D]               (the feature map, K = D)

No class token (the LSG model pools the map itself, as CCT pools its tokens); the tokenizer's
convolutions have ``tokenizer_channels`` filters except the last, which has D. Stochastic depth
(per example, the whole residual branch, rescaled by ``1 / (1 - rate)``) rises linearly from 0
in the first block to ``stochastic_depth`` in the last, as in CCT; it is a ``Dropout`` with
noise shape ``(batch, 1, 1)``. The map is ``ceil(H / 2^L) x ceil(W / 2^L)`` for L tokenizer
layers; the position embedding is sized for it, so the input size is fixed at build time.

* ``"vit"``: D = 128, 4 blocks, 4 heads, MLP ratio 2, two tokenizer convolutions (64, 128
  filters): an 8x8 token grid for 32x32 images; 613,824 parameters (all trainable).

Initialisation: tokenizer kernels he_normal; Dense, attention and position-embedding weights
truncated normal with stddev 0.02 (ViT's), biases 0, LayerNorm 1 and 0. With ``seed`` each
kernel (each of the attention's query, key, value and output kernels too) and each dropout
gets its own seed from ``random.Random(seed)``.

Weight decay: ``kernels`` scope attaches ``L2(wd / 2)`` to conv, Dense and attention kernels;
``all`` also to biases, LayerNorm parameters and the position embedding.

Filter correlation (C_IC): the last kernel layer is the last block's MLP output projection,
``Dense(D)`` on the tokens; column k of its ``[mlp_ratio * D, D]`` kernel writes channel k of
the map (through the residual sum and the final LayerNorm, as ResNet20's last convolution
writes through its shortcut), so its columns are the token model's counterpart of the last
convolution's filters (:func:`lsg_tf.analysis.correlation.last_filters`).
"""

from __future__ import annotations

import random

import keras

from lsg_tf.core.backbones.cifar import l2_regularizer

DIM = 128
DEPTH = 4
HEADS = 4
MLP_RATIO = 2
TOKENIZER_LAYERS = 2
TOKENIZER_CHANNELS = 64
DROPOUT = 0.0
ATTENTION_DROPOUT = 0.0
STOCHASTIC_DEPTH = 0.1
MIN_SIZE = 8
NAMES = ("vit",)
_INIT_STDDEV = 0.02
_LN_EPSILON = 1e-6


@keras.saving.register_keras_serializable(package="lsg_tf")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding ``[N, D]`` to tokens ``[B, N, D]`` (ViT's position embedding).

    Args:
        initializer, regularizer: of the embedding weight (truncated normal 0.02, none).
    """

    def __init__(self, initializer=None, regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(
            initializer or keras.initializers.TruncatedNormal(stddev=_INIT_STDDEV))
        self.regularizer = keras.regularizers.get(regularizer)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(f"PositionEmbedding needs tokens [B, N, D] with known N and D, "
                             f"got shape {tuple(input_shape)}")
        self.embedding = self.add_weight(shape=tuple(input_shape[1:]), name="embedding",
                                         initializer=self.initializer,
                                         regularizer=self.regularizer)

    def call(self, inputs):
        return inputs + keras.ops.cast(self.embedding, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"initializer": keras.initializers.serialize(self.initializer),
                       "regularizer": keras.regularizers.serialize(self.regularizer)})
        return config


def vit(shape: tuple[int, int, int], dim: int = DIM, depth: int = DEPTH, heads: int = HEADS,
        mlp_ratio: int = MLP_RATIO, tokenizer_layers: int = TOKENIZER_LAYERS,
        tokenizer_channels: int = TOKENIZER_CHANNELS, dropout: float = DROPOUT,
        attention_dropout: float = ATTENTION_DROPOUT, stochastic_depth: float = STOCHASTIC_DEPTH,
        weight_decay: float = 0.0, decay_all: bool = False, seed: int | None = None,
        name: str = "vit") -> keras.Model:
    """The ViT of the module docstring, mapping images ``shape`` to ``[B, h, w, dim]``.

    Args:
        shape: ``(H, W, C)`` of one image.
        dim, depth, heads, mlp_ratio: D, blocks, attention heads (dividing D) and the MLP's
            hidden width over D.
        tokenizer_layers, tokenizer_channels: the CCT tokenizer's conv + pool layers (>= 1)
            and the filters of all but its last convolution.
        dropout: after the position embedding and in the MLP; attention_dropout: on the
            attention weights; stochastic_depth: the last block's drop-path rate (each in
            [0, 1)).
        weight_decay, decay_all: ``L2(weight_decay / 2)`` on kernels (``decay_all``: on every
            variable).
        seed: every kernel and dropout gets its own seed from ``random.Random(seed)``.
    """
    for label, value in (("dim", dim), ("depth", depth), ("heads", heads),
                         ("mlp_ratio", mlp_ratio), ("tokenizer_layers", tokenizer_layers),
                         ("tokenizer_channels", tokenizer_channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"vit {label} must be an integer >= 1, got {value!r}")
    if dim % heads:
        raise ValueError(f"vit heads={heads} must divide dim={dim}")
    for label, value in (("dropout", dropout), ("attention_dropout", attention_dropout),
                         ("stochastic_depth", stochastic_depth)):
        if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
            raise ValueError(f"vit {label} must be a rate in [0, 1), got {value!r}")
    rng = None if seed is None else random.Random(seed)

    def next_seed():
        return None if rng is None else rng.randrange(2**31 - 1)

    def normal():
        return keras.initializers.TruncatedNormal(stddev=_INIT_STDDEV, seed=next_seed())

    decay = l2_regularizer(weight_decay)
    extra = decay if decay_all else None

    def layer_norm(label):
        return keras.layers.LayerNormalization(epsilon=_LN_EPSILON, gamma_regularizer=extra,
                                               beta_regularizer=extra, name=label)

    def dense(units, label, activation=None):
        return keras.layers.Dense(units, activation=activation, kernel_initializer=normal(),
                                  kernel_regularizer=decay, bias_regularizer=extra, name=label)

    def drop(rate, label, noise_shape=None):
        if rate == 0:
            return lambda tensor: tensor
        return keras.layers.Dropout(rate, noise_shape=noise_shape, seed=next_seed(), name=label)

    inputs = keras.Input(shape=shape, name="images")
    x = inputs
    for layer in range(1, tokenizer_layers + 1):
        filters = dim if layer == tokenizer_layers else tokenizer_channels
        x = keras.layers.Conv2D(
            filters, 3, padding="same", use_bias=False,
            kernel_initializer=keras.initializers.HeNormal(seed=next_seed()),
            kernel_regularizer=decay, name=f"tokenizer_conv{layer}")(x)
        x = keras.layers.ReLU(name=f"tokenizer_relu{layer}")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same",
                                      name=f"tokenizer_pool{layer}")(x)
    height, width = x.shape[1], x.shape[2]
    x = keras.layers.Reshape((height * width, dim), name="tokens")(x)
    x = PositionEmbedding(normal(), extra, name="position_embedding")(x)
    x = drop(dropout, "embedding_dropout")(x)
    for block in range(1, depth + 1):
        prefix = f"block{block}_"
        rate = stochastic_depth * (block - 1) / max(depth - 1, 1)
        y = layer_norm(f"{prefix}attention_norm")(x)
        attention = keras.layers.MultiHeadAttention(
            heads, dim // heads, dropout=attention_dropout, kernel_initializer=normal(),
            kernel_regularizer=decay, bias_regularizer=extra, seed=next_seed(),
            name=f"{prefix}attention")
        y = attention(y, y)
        _reseed_kernels(attention, normal)
        y = drop(rate, f"{prefix}attention_drop_path", (None, 1, 1))(y)
        x = keras.layers.Add(name=f"{prefix}attention_add")([x, y])
        y = layer_norm(f"{prefix}mlp_norm")(x)
        y = dense(mlp_ratio * dim, f"{prefix}mlp_fc1", activation="gelu")(y)
        y = drop(dropout, f"{prefix}mlp_dropout1")(y)
        y = dense(dim, f"{prefix}mlp_fc2")(y)
        y = drop(dropout, f"{prefix}mlp_dropout2")(y)
        y = drop(rate, f"{prefix}mlp_drop_path", (None, 1, 1))(y)
        x = keras.layers.Add(name=f"{prefix}mlp_add")([x, y])
    x = layer_norm("final_norm")(x)
    x = keras.layers.Reshape((height, width, dim), name="token_grid")(x)
    return keras.Model(inputs, x, name=name)


def _reseed_kernels(attention: keras.layers.MultiHeadAttention, normal) -> None:
    """Gives the attention's query, key, value and output kernels their own seeds.

    The layer copies its one seeded initializer to each projection, which would start the
    query, key and value kernels equal.
    """
    for weight in attention.trainable_weights:
        if weight.path.endswith("kernel"):
            weight.assign(normal()(weight.shape, weight.dtype))

