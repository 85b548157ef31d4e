"""Training only the top of a partly frozen backbone on cached features (paper section 4:
the pretrained network is fine-tuned with everything below its top blocks frozen).

The frozen part gives the same output in every epoch, so it runs once over the data
(:func:`frozen_features`, kept in ``cache_dir`` when one is given) and the LSG model is trained
on its output: :func:`top_model` is an ``LSGModel`` over the backbone's top (the backbone's own
layers, so training it trains the backbone) that takes the cached features as inputs. After
training, :func:`copy_head` gives the full model (images in) the trained gate and classifier;
that model is evaluated, analysed, saved and exported as any other run's.

Augmentation cannot reach cached features: the top trains on the un-augmented images.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from lsg_tf import run_io

_CACHE_PREFIX = "frozen-"


def frozen_features(frozen, model, images: np.ndarray, batch_size: int, name: str = "",
                    cache_dir: str | None = None, verbose: int = 1) -> np.ndarray:
    """``frozen(model.normalise(images))`` as float32, in batches (computed once).

    With ``cache_dir``, the result is kept as ``frozen-<key>.npy``, ``key`` a digest of the
    frozen part's weights, the normalisation and the images, and reused when it exists.
    """
    path = None
    if cache_dir:
        digest = hashlib.blake2b(digest_size=12)
        for weight in frozen.weights:
            digest.update(np.asarray(weight).tobytes())
        digest.update(repr((model.input_mean, model.input_std, images.shape)).encode())
        digest.update(np.ascontiguousarray(images).tobytes())
        path = os.path.join(cache_dir, f"{_CACHE_PREFIX}{name}-{digest.hexdigest()}.npy")
        if os.path.exists(path):
            return np.load(path)
    from tqdm.auto import tqdm

    out = None
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc=f"frozen features {name}".strip(), unit="batch",
                      disable=not verbose, leave=False):
        batch = frozen(model.normalise(images[start:start + batch_size]), training=False)
        batch = np.asarray(batch, np.float32)
        if out is None:
            out = np.empty((len(images), *batch.shape[1:]), np.float32)
        out[start:start + len(batch)] = batch
    if path is not None:
        os.makedirs(cache_dir, exist_ok=True)
        with run_io.atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, out)
    return out


def top_model(make_model, top):
    """The LSG model trained on cached features: ``make_model`` (the full model's factory,
    ``make_model(backbone, **overrides)``) over ``top``, inputs taken as they are."""
    return make_model(top, input_mean=None, input_std=None, image_inputs=False)


def copy_head(trained, full) -> None:
    """Gives ``full`` the gate and classifier of ``trained`` (the backbone's layers are
    shared already)."""
    full.gate.assign(trained.gate)
    full.classifier.set_weights(trained.classifier.get_weights())
