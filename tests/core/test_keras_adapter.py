"""The Keras-version-specific members LSGModel relies on still exist in the installed Keras."""

import keras
import numpy as np
import pytest
from conftest import tiny_backbone

from lsg_tf.core import keras_adapter
from lsg_tf.core.model import LSGModel
from lsg_tf.core.schedule import Schedule


def test_written_for_keras_3_15():
    # Written against Keras 3.15: a different major.minor must be re-checked by hand (the
    # private members below, and the two multi-worker workarounds' upstream bugs).
    installed = ".".join(keras.__version__.split(".")[:2])
    assert keras_adapter.WRITTEN_FOR == "3.15"
    assert installed == keras_adapter.WRITTEN_FOR, (
        f"keras {keras.__version__} installed; lsg_tf.core.keras_adapter was written for "
        f"{keras_adapter.WRITTEN_FOR}: re-check its private members and workarounds")


@pytest.mark.parametrize("member", keras_adapter.PRIVATE_MEMBERS)
def test_private_keras_members_exist(member):
    model = LSGModel(tiny_backbone(), num_classes=3, schedule=Schedule("joint"))
    model.compile(optimizer="sgd")
    assert hasattr(model, member), f"keras.Model has no {member} in keras {keras.__version__}"


def test_adapter_losses_match_public_keras_losses():
    model = LSGModel(tiny_backbone(), num_classes=3, schedule=Schedule("std"),
                     classifier_weight_decay=0.1)
    model.compile(optimizer="sgd")
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(4, 8, 8, 1)).astype("float32")
    y = np.array([0, 1, 2, 1])
    logits = model(x)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    np.testing.assert_allclose(keras_adapter.compiled_loss(model, y, logits), ce, rtol=1e-6)
    decay = sum(float(l) for l in keras_adapter.regularization_losses(model))
    kernel = model.classifier.kernel.numpy()
    np.testing.assert_allclose(decay, 0.05 * np.sum(kernel ** 2), rtol=1e-5)
    np.testing.assert_allclose(keras_adapter.total_loss(model, x, y, logits), float(ce) + decay,
                               rtol=1e-5)


def test_reducible_only_reshapes_under_multi_worker():
    import tensorflow as tf

    logs = {"loss": tf.constant(1.5)}
    assert keras_adapter.reducible(tf.distribute.get_strategy(), logs) is logs
