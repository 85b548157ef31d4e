"""The Keras-version-specific parts of ``LSGModel``, in one place.

``LSGModel.train_step`` and ``test_step`` reuse members of ``keras.Model`` that are not part of
Keras' public API (the compiled loss, the loss tracker, the compiled metrics), and two
workarounds patch how Keras 3 builds and reduces under ``MultiWorkerMirroredStrategy``. They
were written for Keras ``WRITTEN_FOR``; ``tests/core/test_keras_adapter.py`` checks that every
private member used here still exists, so a Keras upgrade that moves one fails there, not in
the middle of a training run.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

WRITTEN_FOR = "3.15"

# The private keras.Model members this module reads (checked by the tests).
PRIVATE_MEMBERS = ("_compile_loss", "_aggregate_additional_loss", "_compute_loss",
                   "_loss_tracker", "_compile_metrics", "_maybe_symbolic_build")


def compiled_loss(model: keras.Model, y, y_pred, sample_weight=None):
    """The loss given to ``compile`` (no regularisation terms), scaled per replica."""
    return model._compile_loss(y, y_pred, sample_weight)


def regularization_losses(model: keras.Model) -> list:
    """The layers' added losses (weight decay as L2 terms), each aggregated as Keras does."""
    return [model._aggregate_additional_loss(loss) for loss in model.losses]


def total_loss(model: keras.Model, x, y, y_pred, sample_weight=None, training=False):
    """Keras' full loss: the compiled loss plus every added loss."""
    return model._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                               training=training)


def loss_tracker(model: keras.Model) -> keras.metrics.Metric:
    """The ``loss`` metric Keras reports in its logs."""
    return model._loss_tracker


def compiled_metrics(model: keras.Model):
    """The metrics given to ``compile`` (a metrics container)."""
    return model._compile_metrics


def is_multi_worker(strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def first_replica_batch(strategy, iterator):
    """The first batch of this worker's first replica, for building metrics from shapes.

    Keras (3.15) builds metrics from a sample batch that it averages with
    ``strategy.reduce("MEAN")``, which fails under ``MultiWorkerMirroredStrategy``
    ("Attempt to convert a value (PerReplica ...)"). Only shapes and dtypes matter there.
    """
    for _, _, batches in iterator:
        return tf.nest.map_structure(
            lambda v: (strategy.experimental_local_results(v)[0]
                       if isinstance(v, tf.distribute.DistributedValues) else v),
            next(batches))
    return None


def reducible(strategy, logs: dict) -> dict:
    """Makes step logs reducible under ``MultiWorkerMirroredStrategy``.

    Keras (3.15) reduces step outputs across workers with ``strategy.reduce("MEAN", v,
    axis=0)``, which fails on scalars ("Invalid reduction dimension 0",
    tensorflow/tensorflow#72388). Metric results are already identical on every worker, so
    shape ``[1]`` reduces to the same scalar.
    """
    if not is_multi_worker(strategy):
        return logs
    return {k: ops.reshape(v, (1,)) for k, v in logs.items()}
