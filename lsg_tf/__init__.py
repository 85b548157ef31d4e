"""lsg-tf: interpretable CNNs with Label-Sensitive Gates (class-specific filters).

``import lsg_tf`` is light (no TensorFlow): the public names below are imported on first use.

* :class:`LSGModel` (``lsg_tf.core.model``): the CNN with a gate, trained by Algorithm 1.
* :class:`GateConstraint` (``lsg_tf.core.gate``): the gate's projection (column max = 1, [0, 1]).
* :class:`Schedule` (``lsg_tf.core.schedule``): which path trains in which epoch.
* :func:`build_backbone` (``lsg_tf.core.backbones``): images to the last feature map.
* :func:`load_model`: loads a ``.keras`` file written by lsg_tf.
* :func:`export_saved_model` (``lsg_tf.serving.export_lib``): the STD path for TF Serving.
"""

import importlib

__all__ = ["LSGModel", "GateConstraint", "Schedule", "build_backbone", "load_model",
           "export_saved_model"]

_LAZY = {
    "LSGModel": "lsg_tf.core.model",
    "GateConstraint": "lsg_tf.core.gate",
    "Schedule": "lsg_tf.core.schedule",
    "build_backbone": "lsg_tf.core.backbones",
    "export_saved_model": "lsg_tf.serving.export_lib",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lsg_tf' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))


def load_model(path: str):
    """Loads a ``.keras`` file written by lsg_tf (registers its custom classes first)."""
    import zipfile

    import keras

    import lsg_tf.core.backbones  # noqa: F401  (SubsampleZeroPad, PositionEmbedding)
    import lsg_tf.core.lr_schedules  # noqa: F401  (LinearWarmup, OneCycle)
    import lsg_tf.core.model  # noqa: F401  (LSGModel, GateConstraint)

    if not zipfile.is_zipfile(path):
        import os

        if not os.path.exists(path):
            raise FileNotFoundError(f"model file {path!r} does not exist")
        raise ValueError(f"model file {path!r} is not a complete .keras (zip) file: truncated "
                         "or not written by Keras")
    return keras.models.load_model(path)
