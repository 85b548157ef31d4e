"""Runs an untargeted black-box attack and accounts for it as Table 5 does (appendix F).

An attack is only attempted on images the model classifies correctly; it succeeds when the
model's top-1 label of the returned image differs from the true label (checked here with the
model, not taken from the attack). Each image is attacked on its own so that its queries (images
sent to the classifier's ``predict``) and wall time are known.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from lsg_tf.robustness import art_wrapper


def changed_pixels(x: np.ndarray, x_adv: np.ndarray) -> np.ndarray:
    """Number of pixel locations ``(h, w)`` where any channel differs: int ``[N]``.

    Args:
        x, x_adv: ``[N, H, W, C]`` (channels last).
    """
    x = np.asarray(x)
    x_adv = np.asarray(x_adv)
    if x.shape != x_adv.shape or x.ndim != 4:
        raise ValueError(f"x and x_adv must share one [N, H, W, C] shape, got {x.shape} "
                         f"and {x_adv.shape}")
    return np.any(x != x_adv, axis=-1).reshape(len(x), -1).sum(axis=1)


@dataclasses.dataclass
class BlackBoxResult:
    """Outcome of one black-box attack on N candidate images.

    Attributes:
        name: attack name.
        labels: int32 ``[N]`` true labels.
        clean_predictions: int32 ``[N]`` top-1 labels of the clean images.
        attempted: bool ``[N]``: the clean image was classified correctly, so it was attacked.
        x_adv: float32 ``[N, H, W, C]`` returned images (the clean image where not attempted).
        adv_predictions: int32 ``[N]`` top-1 labels of ``x_adv``.
        queries: int64 ``[N]`` images sent to the classifier per attacked image (0 if not).
        seconds: float64 ``[N]`` wall time per attacked image (0 if not).
        changed: int64 ``[N]`` changed pixel locations.
    """

    name: str
    labels: np.ndarray
    clean_predictions: np.ndarray
    attempted: np.ndarray
    x_adv: np.ndarray
    adv_predictions: np.ndarray
    queries: np.ndarray
    seconds: np.ndarray
    changed: np.ndarray

    @property
    def success(self) -> np.ndarray:
        """bool ``[N]``: attempted and the label really changed."""
        return self.attempted & (self.adv_predictions != self.labels)

    def summary(self) -> dict:
        """Attempts, successes, success rate, mean queries and seconds per attacked image."""
        attempts = int(self.attempted.sum())
        successes = int(self.success.sum())
        if attempts:
            queries = self.queries[self.attempted]
            seconds = self.seconds[self.attempted]
            mean_queries, mean_seconds = float(queries.mean()), float(seconds.mean())
            mean_changed = (float(self.changed[self.success].mean()) if successes
                            else float("nan"))
        else:
            mean_queries = mean_seconds = mean_changed = float("nan")
        return {
            "candidates": int(len(self.labels)),
            "attempts": attempts,
            "successes": successes,
            "success_rate": successes / attempts if attempts else float("nan"),
            "mean_queries": mean_queries,
            "mean_queries_successful": (float(self.queries[self.success].mean()) if successes
                                        else float("nan")),
            "seconds_per_image": mean_seconds,
            "total_seconds": float(self.seconds.sum()),
            "mean_changed_pixels_successful": mean_changed,
        }


def run_black_box_attack(name: str, attack, classifier, x: np.ndarray, y: np.ndarray,
                         progress: str | None = None) -> BlackBoxResult:
    """Attacks every correctly classified image of ``x`` alone, counting queries and time.

    Args:
        name: attack name for the result.
        attack: an ART evasion attack whose ``generate(x, y)`` takes true labels ``y``
            (untargeted) and queries ``classifier``.
        classifier: the :class:`~lsg_tf.robustness.art_wrapper.CountingClassifier` the attack
            queries.
        x: float ``[N, H, W, C]`` images in [0, 1].
        y: int ``[N]`` true labels.
        progress: a progress-bar label, or None.

    Returns:
        A :class:`BlackBoxResult`.

    Raises:
        ValueError: ``x``/``y`` shapes that do not match, or ``x`` outside [0, 1].
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y).astype(np.int32)
    if x.ndim != 4 or y.shape != (len(x),):
        raise ValueError(f"x must be [N, H, W, C] and y [N]; got {x.shape} and {y.shape}")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"x must lie in [0, 1], got range [{x.min():.3f}, {x.max():.3f}]")
    clean = art_wrapper.predict_labels(classifier, x)
    attempted = clean == y
    x_adv = x.copy()
    queries = np.zeros(len(x), np.int64)
    seconds = np.zeros(len(x), np.float64)
    indices = np.flatnonzero(attempted)
    if progress:
        from tqdm.auto import tqdm

        indices = tqdm(indices, desc=progress, unit="img", leave=False)
    for i in indices:
        before = classifier.queries
        start = time.perf_counter()
        x_adv[i] = attack.generate(x[i:i + 1], y[i:i + 1])[0]
        seconds[i] = time.perf_counter() - start
        queries[i] = classifier.queries - before
    adv = art_wrapper.predict_labels(classifier, x_adv)
    return BlackBoxResult(name=name, labels=y, clean_predictions=clean, attempted=attempted,
                          x_adv=x_adv, adv_predictions=adv, queries=queries, seconds=seconds,
                          changed=changed_pixels(x, x_adv))
