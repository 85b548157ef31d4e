"""The local-search black-box attack (LocSearchAdv) as an ART evasion attack (appendix F).

N. Narodytska and S. P. Kasiviswanathan, "Simple black-box adversarial perturbations for deep
networks", 2016 (https://arxiv.org/abs/1612.06299), Algorithm LocSearchAdv. ART 1.20 has no
implementation; this one follows ART's attack contract (``attack_params``,
``_estimator_requirements``, ``_check_params``, ``generate(x, y=None)``).
"""

from __future__ import annotations

import numpy as np
from art.attacks.attack import EvasionAttack
from art.estimators.classification.classifier import ClassifierMixin
from art.estimators.estimator import BaseEstimator


def check_parameters(p: float, r: float, d: int, t: int, k: int, max_rounds: int,
                     initial_fraction: float = 0.1, max_candidates: int | None = None,
                     nb_classes: int | None = None) -> None:
    """Raises ValueError naming the first parameter of :class:`LocalSearchAttack` out of range."""
    def integer(name, low, value):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")

    def number(value):
        return not isinstance(value, bool) and isinstance(value, (int, float, np.number))

    if not number(p) or not p > 0:
        raise ValueError(f"p (sensitivity perturbation) must be a number > 0, got {p!r}")
    if not number(r) or not 0 <= r <= 2:
        raise ValueError(f"r (cyclic perturbation) must be in [0, 2], got {r!r}")
    integer("d (neighbourhood half side)", 0, d)
    integer("t (pixels per round)", 1, t)
    integer("k (top-k criterion)", 1, k)
    if nb_classes is not None and k >= nb_classes:
        raise ValueError(f"k (top-k criterion) must be < the {nb_classes} classes, got {k!r}")
    integer("max_rounds (R)", 0, max_rounds)
    if not number(initial_fraction) or not 0 < initial_fraction <= 1:
        raise ValueError(f"initial_fraction must be in (0, 1], got {initial_fraction!r}")
    if max_candidates is not None:
        integer("max_candidates", 1, max_candidates)


class LocalSearchAttack(EvasionAttack):
    """Greedy local search over pixel locations, using output probabilities only.

    Pixel values are mapped to ``[LB, UB] = [-1/2, 1/2]`` (the clip range centred and divided
    by its width, as in Foolbox's reference implementation). For each image ``I`` of true
    label ``c``, starting from a random ``initial_fraction`` (10%) of the pixel locations, every
    round ``i = 1..R``:

    1. *Sensitivity*: for each candidate location (x, y), the image ``PERT(Ĩ, p, x, y)`` sets
       every channel of that pixel to ``p * sign(Ĩ(b, x, y))`` (outside the valid range on
       purpose: it only probes the pixel's influence). All candidates are scored in ONE batched
       prediction; the score is the probability of ``c``.
    2. *Perturbation*: the ``t`` locations with the lowest scores get ``CYCLIC(r, ·)`` on every
       channel: ``r * Ĩ(b, x, y)``, wrapped back into ``[LB, UB]`` by ± (UB - LB).
    3. *Test*: success when ``c`` is not among the top ``k`` classes of the new ``Ĩ``.
    4. *Neighbourhood*: the next candidates are the pixels within the square of half side ``d``
       around each of the ``t`` perturbed locations (their union, inside the image).

    An image costs at most ``R * (max candidates + 1)`` queries and changes at most ``t * R``
    pixel locations; a failed image is returned unchanged (as ART's other attacks do). The
    perturbation is cumulative: CYCLIC acts on the current image, so a location picked twice
    is transformed twice. The defaults are those of Foolbox's implementation of the paper
    (p = 10, r = 1.5, d = 5, t = 5, R = 150, k = 1).

    Args:
        classifier: an ART classifier whose ``predict`` returns probabilities ``[N, C]`` for
            inputs in its ``clip_values``.
        p: perturbation of the sensitivity probe, > 0 (default 10).
        r: cyclic perturbation factor in [0, 2] (default 1.5).
        d: half side of the neighbourhood square, >= 0 (default 5).
        t: pixels perturbed per round, >= 1 (default 5).
        k: top-k criterion, ``1 <= k < C`` (default 1: the top-1 label changes).
        max_rounds: R, >= 0 (default 150; 0 never perturbs).
        initial_fraction: fraction of pixel locations in the first candidate set, in (0, 1].
        max_candidates: optional cap on candidates per round (a random subset; Foolbox uses
            128); None scores every candidate, as the paper.
        seed: seed of the random initial locations (and candidate subsets).
        verbose: show a progress bar over images.

    Attributes set by :meth:`generate`:
        last_success: bool ``[N]`` the criterion was met.
        last_rounds: int ``[N]`` rounds run per image.
        last_queries: int ``[N]`` images sent to ``predict`` per image.
    """

    attack_params = EvasionAttack.attack_params + [
        "p", "r", "d", "t", "k", "max_rounds", "initial_fraction", "max_candidates", "seed",
        "verbose"]
    _estimator_requirements = (BaseEstimator, ClassifierMixin)

    def __init__(self, classifier, p: float = 10.0, r: float = 1.5, d: int = 5, t: int = 5,
                 k: int = 1, max_rounds: int = 150, initial_fraction: float = 0.1,
                 max_candidates: int | None = None, seed: int = 0, verbose: bool = False):
        super().__init__(estimator=classifier)
        self.p = p
        self.r = r
        self.d = d
        self.t = t
        self.k = k
        self.max_rounds = max_rounds
        self.initial_fraction = initial_fraction
        self.max_candidates = max_candidates
        self.seed = seed
        self.verbose = verbose
        self._check_params()
        self._rng = np.random.default_rng(seed)
        self.last_success = self.last_rounds = self.last_queries = None

    def _check_params(self) -> None:
        check_parameters(self.p, self.r, self.d, self.t, self.k, self.max_rounds,
                         self.initial_fraction, self.max_candidates,
                         getattr(self.estimator, "nb_classes", None))
        if not isinstance(self.verbose, bool):
            raise ValueError(f"verbose must be a bool, got {self.verbose!r}")
        if self.estimator.clip_values is None:
            raise ValueError("LocalSearchAttack needs an estimator with clip_values (LB, UB)")

    # ------------------------------------------------------------------ helpers
    def _to_unit(self, x):
        low, high = (float(v) for v in np.ravel(self.estimator.clip_values)[:2])
        return (x - (low + high) / 2) / (high - low)

    def _from_unit(self, u):
        low, high = (float(v) for v in np.ravel(self.estimator.clip_values)[:2])
        return u * (high - low) + (low + high) / 2

    def _probabilities(self, u: np.ndarray) -> np.ndarray:
        x = self._from_unit(u).astype(np.float32)
        if self.estimator.channels_first:
            x = np.moveaxis(x, -1, 1)
        probs = self.estimator.predict(x, batch_size=max(len(x), 1))
        if probs.min() < -1e-6 or probs.max() > 1 + 1e-6 or \
                not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
            raise ValueError("LocalSearchAttack needs a classifier that outputs probabilities "
                             "(rows in [0, 1] summing to 1); got other values, e.g. logits")
        return probs

    def _cyclic(self, u: np.ndarray) -> np.ndarray:
        out = self.r * u
        out = np.where(out < -0.5, out + 1.0, out)
        return np.where(out > 0.5, out - 1.0, out)

    def _attack_one(self, image: np.ndarray, label: int) -> tuple[np.ndarray, bool, int, int]:
        """Attacks one image ``[H, W, C]`` (unit coordinates); returns (image, success,
        rounds, queries)."""
        height, width = image.shape[:2]
        current = image.copy()
        n_initial = max(1, int(round(self.initial_fraction * height * width)))
        flat = self._rng.permutation(height * width)[:n_initial]
        candidates = np.stack([flat // width, flat % width], axis=1)
        queries = 0
        offsets = np.arange(-self.d, self.d + 1)
        for round_index in range(1, self.max_rounds + 1):
            if self.max_candidates is not None and len(candidates) > self.max_candidates:
                keep = self._rng.permutation(len(candidates))[:self.max_candidates]
                candidates = candidates[np.sort(keep)]
            rows, cols = candidates[:, 0], candidates[:, 1]
            probes = np.repeat(current[None], len(candidates), axis=0)
            probes[np.arange(len(candidates)), rows, cols, :] = \
                self.p * np.sign(current[rows, cols, :])
            scores = self._probabilities(probes)[:, label]
            queries += len(candidates)
            best = candidates[np.argsort(scores, kind="stable")[:self.t]]
            current[best[:, 0], best[:, 1], :] = self._cyclic(current[best[:, 0], best[:, 1], :])
            probs = self._probabilities(current[None])[0]
            queries += 1
            top_k = np.argsort(-probs, kind="stable")[:self.k]
            if label not in top_k:
                return current, True, round_index, queries
            rr, cc = np.broadcast_arrays(best[:, 0, None, None] + offsets[None, :, None],
                                         best[:, 1, None, None] + offsets[None, None, :])
            inside = (rr >= 0) & (rr < height) & (cc >= 0) & (cc < width)
            codes = np.unique(rr[inside] * width + cc[inside])
            candidates = np.stack([codes // width, codes % width], axis=1)
        return image, False, self.max_rounds, queries

    # ------------------------------------------------------------------ ART API
    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Runs the attack on every image of ``x``.

        Args:
            x: ``[N, H, W, C]`` (or ``[N, C, H, W]`` for a channels-first estimator) inside
                the estimator's clip values.
            y: true labels, int ``[N]`` or one-hot ``[N, C]``; None: the classifier's
                predictions (ART's convention).

        Returns:
            The adversarial images, same shape and dtype float32; failed images unchanged.

        Raises:
            ValueError: unknown keyword arguments, or ``y`` of another length.
        """
        if kwargs:
            raise ValueError(f"LocalSearchAttack.generate takes no extra arguments, got "
                             f"{sorted(kwargs)}")
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4:
            raise ValueError(f"x must have shape [N, H, W, C], got {x.shape}")
        images = np.moveaxis(x, 1, -1) if self.estimator.channels_first else x
        if y is None:
            labels = np.argmax(self.estimator.predict(x), axis=1)
        else:
            y = np.asarray(y)
            labels = np.argmax(y, axis=1) if y.ndim == 2 else y.reshape(-1)
        if len(labels) != len(x):
            raise ValueError(f"y has {len(labels)} labels for {len(x)} images")
        units = self._to_unit(images.astype(np.float64))
        out = images.copy()
        success = np.zeros(len(x), bool)
        rounds = np.zeros(len(x), np.int64)
        queries = np.zeros(len(x), np.int64)
        order = range(len(x))
        if self.verbose:
            from tqdm.auto import tqdm

            order = tqdm(order, desc="Local search", unit="img", leave=False)
        for i in order:
            adv, success[i], rounds[i], queries[i] = self._attack_one(units[i], int(labels[i]))
            if success[i]:
                # Only perturbed values are mapped back, so other pixels stay bit-identical.
                low, high = np.ravel(self.estimator.clip_values)[:2]
                changed = adv != units[i]
                out[i][changed] = np.clip(self._from_unit(adv[changed]), low, high)
        self.last_success, self.last_rounds, self.last_queries = success, rounds, queries
        return np.moveaxis(out, -1, 1) if self.estimator.channels_first else out
