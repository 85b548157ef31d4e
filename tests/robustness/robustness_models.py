"""Tiny classifiers and images shared by the robustness tests."""

import keras
import numpy as np
from keras import ops

WEAK_ROW, WEAK_COL = 5, 5
BACKGROUND = 0.1


class PlantedPixelModel(keras.Model):
    """3 classes on 8x8x1 images: class 1 iff pixel (5, 5) is far from the background.

    Logits ``[1, 20 * (v - 0.1)^2, 0]`` with ``v = x[5, 5]``: a dark (0.1) pixel gives class 0;
    moving that one pixel by more than about 0.22 (or probing it out of range) gives class 1.
    """

    def call(self, x, training=False):
        v = x[:, WEAK_ROW, WEAK_COL, 0]
        return ops.stack([ops.ones_like(v), 20.0 * ops.square(v - BACKGROUND),
                          ops.zeros_like(v)], axis=1)


def dark_images(n, seed=0):
    """``n`` 8x8x1 images of class 0 for PlantedPixelModel: 0.1 at (5, 5), other pixels in
    [0, 0.2]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.2, (n, 8, 8, 1)).astype(np.float32)
    x[:, WEAK_ROW, WEAK_COL, 0] = BACKGROUND
    return x
