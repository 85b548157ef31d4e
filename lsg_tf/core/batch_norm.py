"""BatchNormalization through TensorFlow's fused kernel in training mode.

Keras 3's ``BatchNormalization`` computes a batch's moments and the normalisation as separate
ops (reductions, then element-wise arithmetic). On CPU these take 1.4-2.2 times PyTorch's
BatchNorm time per ResNet20 step (``bench/step_profile.py``); TensorFlow's
``FusedBatchNormV3`` kernel and its gradient do the same work in one pass each.
:class:`FusedBatchNormalization` is the Keras layer with that kernel in training mode, and
the Keras layer itself in inference mode (so an exported model is unchanged). Outputs,
gradients and moving statistics match Keras' layer to float32 rounding
(``tests/core/test_batch_norm.py``).
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="lsg_tf")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` using the ``FusedBatchNormV3`` kernel when training.

    The fused kernel applies where it can: TensorFlow backend, a 4-D input normalised over
    its last axis, no mask, no renormalisation, float32. Anywhere else the Keras layer runs.
    Moving statistics follow Keras' rule: ``moving = momentum * moving + (1 - momentum) *
    batch``, with the batch's biased variance (the fused kernel reports the unbiased one).
    """

    def _fusable(self, inputs, training, mask) -> bool:
        return (bool(training) and self.trainable and mask is None and not self.renorm
                and keras.backend.backend() == "tensorflow" and len(inputs.shape) == 4
                and self.axis in (-1, 3) and inputs.dtype == "float32"
                and self.compute_dtype == "float32")

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        gamma = self.gamma if self.scale else tf.ones([channels], inputs.dtype)
        beta = self.beta if self.center else tf.zeros([channels], inputs.dtype)
        empty = tf.constant([], inputs.dtype)
        # The raw op: tf.nn's wrapper raises epsilon to at least 1.001e-5.
        outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=gamma, offset=beta, mean=empty, variance=empty,
            epsilon=self.epsilon, exponential_avg_factor=1.0, data_format="NHWC",
            is_training=True)
        # The kernel's variance carries Bessel's correction n / (n - 1); Keras' does not.
        count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), variance.dtype)
        variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return outputs
