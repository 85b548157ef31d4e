"""Targeted L∞ PGD and its targets (paper section 4.5).

The paper attacks with targeted PGD (Madry et al., 2017), ``ε = 0.3`` and 40 iterations, "the
adversarial target classes are from a random permutation of original classes besides each
image's true class": one random permutation ``π`` of the C classes without fixed points (a
derangement) maps every image of class ``y`` to the target ``π[y] != y``. Targeted samples
move the high-layer representation towards another class, which is what the detector of
Table 4 looks for (Wang et al., 2018).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from lsg_tf.robustness import art_wrapper


def derangement(num_classes: int, seed: int) -> np.ndarray:
    """A uniformly random permutation of ``range(num_classes)`` with no fixed point.

    Rejection sampling (about e ≈ 2.7 draws on average) from numpy's PCG64 seeded by ``seed``.

    Args:
        num_classes: C >= 2.
        seed: random seed.

    Returns:
        int32 ``[C]``, ``perm[c] != c`` for every c.

    Raises:
        ValueError: C < 2 (one class has no other class to target).
    """
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2 for targeted attacks, "
                         f"got {num_classes!r}")
    rng = np.random.default_rng(seed)
    classes = np.arange(int(num_classes))
    while True:
        perm = rng.permutation(classes)
        if not np.any(perm == classes):
            return perm.astype(np.int32)


def pgd_targets(labels: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """Targets ``permutation[labels]`` ``[N]`` int32 for true labels ``[N]``.

    Raises:
        ValueError: a label outside the permutation, or a permutation with a fixed point.
    """
    labels = np.asarray(labels)
    permutation = np.asarray(permutation)
    if np.any(permutation == np.arange(len(permutation))):
        raise ValueError(f"permutation {permutation.tolist()} maps a class to itself; "
                         f"use derangement()")
    if labels.size and (labels.min() < 0 or labels.max() >= len(permutation)):
        raise ValueError(f"labels must lie in [0, {len(permutation)}), got range "
                         f"[{labels.min()}, {labels.max()}]")
    return permutation[labels].astype(np.int32)


@dataclasses.dataclass
class PGDResult:
    """Targeted PGD outcome for N images.

    Attributes:
        x_adv: float32 ``[N, H, W, C]`` adversarial images in [0, 1].
        targets: int32 ``[N]`` target classes.
        predictions: int32 ``[N]`` top-1 labels of ``x_adv``.
        linf: float32 ``[N]`` ``|x_adv - x|∞`` per image.
        seconds: wall time of the attack.
    """

    x_adv: np.ndarray
    targets: np.ndarray
    predictions: np.ndarray
    linf: np.ndarray
    seconds: float

    @property
    def target_hit(self) -> np.ndarray:
        """bool ``[N]``: the attack reached its target class."""
        return self.predictions == self.targets

    def summary(self, labels: np.ndarray | None = None) -> dict:
        """Targeted success rate, mean/max L∞ and time per image (plain numbers)."""
        n = len(self.targets)
        out = {
            "images": n,
            "target_hit_rate": float(self.target_hit.mean()) if n else float("nan"),
            "mean_linf": float(self.linf.mean()) if n else float("nan"),
            "max_linf": float(self.linf.max()) if n else float("nan"),
            "seconds_per_image": self.seconds / n if n else float("nan"),
        }
        if labels is not None:
            out["label_changed_rate"] = float(np.mean(self.predictions != labels)) if n else \
                float("nan")
        return out


def make_pgd(classifier, eps: float = 0.3, eps_step: float = 0.01, max_iter: int = 40,
             batch_size: int = 128, num_random_init: int = 0):
    """ART's targeted L∞ ``ProjectedGradientDescent`` with validated parameters.

    Args:
        classifier: an ART classifier with gradients (:func:`art_wrapper.make_classifier`,
            ``output="logits"``).
        eps: L∞ radius in [0, 1] image units, > 0 (paper: 0.3).
        eps_step: step size per iteration, > 0.
        max_iter: iterations >= 1 (paper: 40).
        batch_size: images per gradient batch >= 1.
        num_random_init: random restarts (0: start at x, ART's default).

    Raises:
        ValueError: a parameter outside its range.
    """
    from art.attacks.evasion import ProjectedGradientDescent

    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    if not eps_step > 0:
        raise ValueError(f"eps_step must be > 0, got {eps_step!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if int(num_random_init) != num_random_init or num_random_init < 0:
        raise ValueError(f"num_random_init must be an integer >= 0, got {num_random_init!r}")
    return ProjectedGradientDescent(
        classifier, norm=np.inf, eps=float(eps), eps_step=float(eps_step),
        max_iter=int(max_iter), targeted=True, num_random_init=int(num_random_init),
        batch_size=int(batch_size), verbose=False)


def targeted_pgd(classifier, x: np.ndarray, targets: np.ndarray, eps: float = 0.3,
                 eps_step: float = 0.01, max_iter: int = 40, batch_size: int = 128,
                 progress: str | None = None) -> PGDResult:
    """Runs targeted L∞ PGD on ``x`` towards ``targets``, one batch at a time.

    Args:
        classifier: see :func:`make_pgd`.
        x: float ``[N, H, W, C]`` images in [0, 1].
        targets: int ``[N]`` target classes (e.g. :func:`pgd_targets`).
        eps, eps_step, max_iter, batch_size: see :func:`make_pgd`.
        progress: a progress-bar label, or None.

    Returns:
        A :class:`PGDResult`.

    Raises:
        ValueError: bad parameters, ``x`` outside [0, 1] or of another rank, or targets of
            another length or outside [0, C).
    """
    attack = make_pgd(classifier, eps, eps_step, max_iter, batch_size)
    x = np.asarray(x, dtype=np.float32)
    targets = np.asarray(targets)
    if x.ndim != 4:
        raise ValueError(f"x must have shape [N, H, W, C], got {x.shape}")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"x must lie in [0, 1], got range [{x.min():.3f}, {x.max():.3f}]")
    if targets.shape != (len(x),):
        raise ValueError(f"targets must have shape [{len(x)}], got {targets.shape}")
    nb_classes = classifier.nb_classes
    if targets.size and (targets.min() < 0 or targets.max() >= nb_classes):
        raise ValueError(f"targets must lie in [0, {nb_classes}), got range "
                         f"[{targets.min()}, {targets.max()}]")
    starts = range(0, len(x), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=progress, unit="batch", leave=False)
    start_time = time.perf_counter()
    chunks = []
    for start in starts:
        batch = x[start:start + batch_size]
        one_hot = np.eye(nb_classes, dtype=np.float32)[targets[start:start + batch_size]]
        chunks.append(attack.generate(batch, one_hot).astype(np.float32))
    seconds = time.perf_counter() - start_time
    x_adv = np.concatenate(chunks) if chunks else np.zeros_like(x)
    predictions = art_wrapper.predict_labels(classifier, x_adv)
    linf = (np.abs(x_adv - x).reshape(len(x), -1).max(axis=1) if len(x)
            else np.zeros(0, np.float32))
    return PGDResult(x_adv=x_adv, targets=targets.astype(np.int32), predictions=predictions,
                     linf=linf.astype(np.float32), seconds=seconds)
