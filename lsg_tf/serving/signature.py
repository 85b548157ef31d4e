"""The serving signature contract of an lsg_tf export, written once.

:mod:`lsg_tf.serving.export_lib` builds the SavedModel's signatures from these names, dtypes and
shapes; :mod:`lsg_tf.serving.client` builds requests and reads answers with them. Standard
library only (no TensorFlow, no numpy), so a client can read it cheaply; dtypes are numpy /
TensorFlow dtype names (``np.dtype(name)``, ``tf.as_dtype(name)``).

Both signatures take one input, :data:`INPUT_NAME` (``images``): :data:`INPUT_DTYPE`
(uint8) raw pixels 0-255, rank :data:`INPUT_RANK`, shape ``[batch, height, width,
channels]`` (:func:`input_shape`): any batch, height and width (images are resized to the
training size in the graph), the channel count the model was trained with.

Outputs (:data:`OUTPUTS`, dtypes :data:`OUTPUT_DTYPES`), each with a leading batch axis:

* ``serving_default``: ``probabilities [batch, classes]``, ``classes [batch]``.
* ``explain``: the same plus ``cam [batch, height, width]`` (at the sent image size),
  ``class_filters [batch, K]`` (gate row of the predicted class) and
  ``filter_activations [batch, K]`` (pooled last conv features).

Each exported version folder also holds :data:`CLASS_NAMES_FILE` (line i = name of class i).
"""

from __future__ import annotations

SERVING_SIGNATURE = "serving_default"
EXPLAIN_SIGNATURE = "explain"

INPUT_NAME = "images"
INPUT_DTYPE = "uint8"
INPUT_RANK = 4
"""``[batch, height, width, channels]``."""

PROBABILITIES = "probabilities"
CLASSES = "classes"
CAM = "cam"
CLASS_FILTERS = "class_filters"
FILTER_ACTIVATIONS = "filter_activations"

OUTPUTS = {
    SERVING_SIGNATURE: (PROBABILITIES, CLASSES),
    EXPLAIN_SIGNATURE: (PROBABILITIES, CLASSES, CAM, CLASS_FILTERS, FILTER_ACTIVATIONS),
}
"""Signature name -> its output names."""

OUTPUT_DTYPES = {
    PROBABILITIES: "float32",
    CLASSES: "int64",
    CAM: "float32",
    CLASS_FILTERS: "float32",
    FILTER_ACTIVATIONS: "float32",
}

CLASS_NAMES_FILE = "class_names.txt"


def input_shape(channels: int) -> list:
    """The input shape both signatures accept: ``[None, None, None, channels]``.

    Batch, height and width are free; ``channels`` is the trained model's channel count.
    """
    return [None] * (INPUT_RANK - 1) + [int(channels)]
