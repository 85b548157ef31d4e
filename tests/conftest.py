"""Shared fixtures: quiet TensorFlow, seeded runs, tiny backbones."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist
needs_fashion = pytest.mark.skipif(
    not os.path.exists(os.path.join(FASHION_MNIST_DIR, "train-labels-idx1-ubyte.gz")),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist, or `make data`)")


def tiny_backbone(input_shape=(8, 8, 1), filters=6, seed=0):
    """A one-conv backbone: images -> ReLU feature map [B, h, w, filters]."""
    inputs = keras.Input(input_shape)
    features = keras.layers.Conv2D(
        filters, 3, padding="same", activation="relu",
        kernel_initializer=keras.initializers.HeNormal(seed=seed))(inputs)
    return keras.Model(inputs, features, name="tiny_backbone")


@pytest.fixture
def toy_data():
    """64 random 8x8 gray images over 3 classes (labels int32 [64])."""
    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 3, 64).astype(np.int32)
    return x, y


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)
    yield
