"""lsg-tf: interpretable CNNs with Label-Sensitive Gates (class-specific filters).

``import lsg_tf`` is light (no TensorFlow); import the submodules you need:
``lsg_tf.model.LSGModel``, ``lsg_tf.gate``, ``lsg_tf.backbones``, ``lsg_tf.training``.
"""

__all__ = ["load_model"]


def load_model(path: str):
    """Loads a ``.keras`` file written by lsg_tf (registers its custom classes first)."""
    import keras

    import lsg_tf.backbones  # noqa: F401  (SubsampleZeroPad)
    import lsg_tf.model  # noqa: F401  (LSGModel, GateConstraint)

    return keras.models.load_model(path)
