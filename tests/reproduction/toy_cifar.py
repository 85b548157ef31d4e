"""The toy CIFAR-10 of the reproduction tests: a JPEG tree and a budget that trains in seconds."""

import os

import numpy as np
from PIL import Image

from lsg_tf.reproduction import reproduce_lib

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck")

TOY = reproduce_lib.Budget(
    name="toy", train_subset=None, test_subset=None, epochs=2, batch_size=32,
    lr_schedule="cosine", phi_steps=5, mis_max_examples=40, detect_train_per_class=(2,),
    detect_test_per_class=2, detect_repeats=1, pgd_iter=2, pixel_images=4, pixel_iter=1,
    pixel_population=8, ls_images=4, ls_max_candidates=8, ls_rounds=2, pgd_eps=(8 / 255, 0.3))


def cifar_tree(root, per_class=(6, 5), size=32, seed=0):
    """A CIFAR-10-shaped JPEG tree: class c is an image of mean brightness 20 c + noise."""
    rng = np.random.default_rng(seed)
    for split, n in zip(("train", "test"), per_class):
        for c, name in enumerate(CIFAR_CLASSES):
            folder = os.path.join(root, split, name)
            os.makedirs(folder)
            for i in range(n):
                image = np.clip(rng.normal(20 * c + 30, 25, (size, size, 3)), 0, 255)
                Image.fromarray(image.astype(np.uint8)).save(os.path.join(folder, f"{i}.jpg"))
