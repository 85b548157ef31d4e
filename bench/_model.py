"""The model and data the benchmarks train: the library's ResNet20 LSGModel, random images."""

from __future__ import annotations

import numpy as np


def resnet20_model(schedule, num_classes: int = 10, image_shape=(32, 32, 3),
                   jit_compile: bool = False, steps_per_execution: int = 1,
                   mean=None, std=None, batch_norm: str = "keras", backbone: str = "resnet20"):
    """A ResNet20 :class:`~lsg_tf.core.model.LSGModel` compiled as ``lsg_tf.training.train_lib``
    does (SGD momentum 0.9, lr 0.1, weight decay 1e-4; G by Adam lr 0.01).

    ``mean``/``std``: per-channel input statistics in [0, 1] (normalised inside the model);
    ``batch_norm``: the backbone's BatchNorm layer (``lsg_tf.core.choices.BATCH_NORMS``);
    ``backbone``: another of ``lsg_tf.core.backbones.BACKBONES`` in ResNet20's place.
    """
    import keras

    from lsg_tf.core import backbones
    from lsg_tf.core.model import LSGModel

    keras.utils.set_random_seed(0)
    backbone = backbones.build_backbone(backbone, image_shape, weight_decay=1e-4, seed=0,
                                       batch_norm=batch_norm)
    model = LSGModel(backbone, num_classes, schedule=schedule, sparsity_coefficient=0.01,
                     density_target=0.15, input_mean=mean, input_std=std,
                     classifier_weight_decay=1e-4)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  gate_optimizer=keras.optimizers.Adam(0.01), jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution)
    return model


def random_images(count: int, image_shape=(32, 32, 3), num_classes: int = 10, seed: int = 0):
    """Seeded uint8 images ``[count, *image_shape]`` and int labels ``[count]``."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, *image_shape), dtype=np.uint8)
    labels = rng.integers(0, num_classes, count).astype(np.int64)
    return images, labels


def tensor_dataset(images, labels, batch_size: int):
    """In-memory tensors, batched and repeated: the pipeline-free reference input.

    Images are converted once to what :func:`lsg_tf.data.make_train_dataset` yields
    (float32 in [0, 1]; int32 labels), with the same tf.data options, so only the
    pipeline's own work differs.
    """
    import tensorflow as tf

    from lsg_tf.data import pipeline_options

    images = images.astype(np.float32) / 255.0
    labels = labels.astype(np.int32)
    return (tf.data.Dataset.from_tensor_slices((images, labels))
            .batch(batch_size, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE)
            .with_options(pipeline_options()))
