"""An LSGModel (or any Keras classifier) as an ART ``TensorFlowV2Classifier``.

ART's ``KerasClassifier`` fails on subclassed Keras 3 models (it reads ``output_shape``);
``TensorFlowV2Classifier`` works on any callable. Inputs are images in [0, 1]
(``clip_values=(0, 1)``); the model normalises them inside its own graph, so ART's
``preprocessing`` stays the identity and gradients flow through the normalisation.

The forward pass is wrapped in one ``tf.function``: ART computes loss gradients eagerly, and
the compiled call makes PGD about 1.7x faster on a CPU.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from art.estimators.classification import TensorFlowV2Classifier

OUTPUTS = ("logits", "probabilities")


class _Forward:
    """A compiled ``model(x, training)``, returning logits or softmax probabilities."""

    def __init__(self, model, probabilities: bool):
        self.model = model
        self.probabilities = probabilities
        self._function = tf.function(self._call, reduce_retracing=True)

    def _call(self, x, training):
        logits = self.model(x, training=training)
        return tf.nn.softmax(logits, axis=-1) if self.probabilities else logits

    def __call__(self, x, training=False):
        return self._function(tf.convert_to_tensor(x, tf.float32), bool(training))


class CountingClassifier(TensorFlowV2Classifier):
    """``TensorFlowV2Classifier`` that counts the images passed to :meth:`predict`.

    ``queries`` is the number of images the classifier has been asked to predict, i.e. the
    query cost of a black-box attack (gradients, used by white-box attacks, are not counted).
    """

    queries: int = 0

    def predict(self, x: np.ndarray, batch_size: int = 128, training_mode: bool = False,
                **kwargs) -> np.ndarray:
        """Predictions ``[N, C]`` for ``x`` ``[N, H, W, C_in]`` in [0, 1], in batches."""
        x = np.asarray(x, dtype=np.float32)
        self.queries += len(x)
        if len(x) <= batch_size:
            return super().predict(x, training_mode=training_mode, **kwargs)
        # ART 1.20 predicts all of x in one call; keep memory bounded for large x.
        return np.concatenate([
            super(CountingClassifier, self).predict(x[i:i + batch_size],
                                                    training_mode=training_mode, **kwargs)
            for i in range(0, len(x), batch_size)])


def make_classifier(model, output: str = "logits", input_shape=None,
                    nb_classes: int | None = None) -> CountingClassifier:
    """Wraps a classifier of images in [0, 1] for ART.

    Args:
        model: an :class:`~lsg_tf.core.model.LSGModel` (its STD path ``call(x)`` returns logits
            ``[B, C]`` for images ``[B, H, W, C_in]`` in [0, 1]) or any Keras model with the
            same contract.
        output: ``"logits"`` (white-box attacks: the loss is cross-entropy on logits) or
            ``"probabilities"`` (black-box attacks, which see softmax probabilities only).
        input_shape: ``(H, W, C_in)``; default: the model's input shape.
        nb_classes: C; default: ``model.num_classes`` or the model's output width.

    Returns:
        A :class:`CountingClassifier` with ``clip_values=(0, 1)``, channels last.

    Raises:
        ValueError: unknown ``output``, or shapes that cannot be inferred.
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    if input_shape is None:
        backbone = getattr(model, "backbone", model)
        try:
            input_shape = tuple(backbone.input_shape[1:])
        except (AttributeError, ValueError):
            raise ValueError("input_shape could not be inferred from the model; pass "
                             "input_shape=(H, W, C)") from None
    if nb_classes is None:
        nb_classes = getattr(model, "num_classes", None)
        if nb_classes is None:
            try:
                nb_classes = int(model.output_shape[-1])
            except (AttributeError, ValueError):
                raise ValueError("nb_classes could not be inferred from the model; pass "
                                 "nb_classes=C") from None
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(f"input_shape must be (H, W, C) with positive sizes, got {input_shape}")
    probabilities = output == "probabilities"
    return CountingClassifier(
        model=_Forward(model, probabilities),
        nb_classes=int(nb_classes),
        input_shape=input_shape,
        loss_object=keras.losses.CategoricalCrossentropy(from_logits=not probabilities),
        clip_values=(0.0, 1.0),
    )


def predict_labels(classifier, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Top-1 labels ``[N]`` int, without counting the images as attack queries."""
    queries = getattr(classifier, "queries", None)
    labels = np.argmax(classifier.predict(np.asarray(x, np.float32), batch_size=batch_size),
                       axis=1).astype(np.int32)
    if queries is not None:
        classifier.queries = queries
    return labels
