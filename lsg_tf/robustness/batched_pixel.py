"""The one-pixel attack with one differential evolution run for many images at once.

:class:`~lsg_tf.robustness.pixel.BudgetedPixelAttack` runs scipy's differential evolution (DE)
once per image and scores one generation of one image per ``predict`` call, plus one call per
generation for scipy's success callback. :class:`BatchedPixelAttack` runs the same DE for all
images of a ``generate`` call together, in numpy: each generation, the trial candidates of every
still-active image are stacked into one batch (chunked by ``batch_size``) and scored by one
model call; an image stops as soon as one of its scored candidates passes the success test, and
drops out of the batch.

Kept from ART's ``PixelAttack``: the encoding (per pixel: row, column, one value per channel in
0-255), the bounds (``_get_bounds``), the perturbation (``_perturb_image``, vectorised: values
truncated to integers, positions taken modulo the image size, a later pixel overriding an
earlier one at the same place), the 0-255 rescale (``rescale_input``) and the success test
(untargeted: the top-1 label differs from the true label; targeted: it equals the target).
Kept from scipy's ``differential_evolution`` as :class:`BudgetedPixelAttack` calls it:
``best1bin`` with ``recombination=1`` (every parameter from the mutant), mutation dithered in
[0.5, 1) once per generation (here: per image and generation), ``max(5, popsize * D)``
members with ``popsize = max(1, population // D)``, Latin-hypercube initialisation,
out-of-bounds parameters redrawn uniformly, deferred updating (a trial replaces its parent if
its energy is lower or equal), no polishing.

Differences: an image stops when ANY scored candidate (the initial population included) passes
the success test, read from the predictions that scored it, where scipy's callback tests only
the best member after each generation with an extra ``predict`` call; a candidate whose integer
encoding was already scored for its image is not sent to the model again but takes its earlier
energy (the same image, so the same DE path for a deterministic model; late in a run most
trials are repeats: at 100 generations about 80% of them); and the random stream is shared by
the images of one call, so an image's result depends on the other images attacked with it (not
on ``batch_size``). A run costs at most ``members * (max_iter + 1)`` queries per image.
"""

from __future__ import annotations

import math

import numpy as np
from art.attacks.evasion import PixelAttack
from art.config import ART_NUMPY_DTYPE
from art.utils import check_and_transform_label_format


class BatchedPixelAttack(PixelAttack):
    """ART's pixel attack with DE vectorised across images and early-stopped per image.

    Args:
        classifier: an ART classifier with ``clip_values`` (black-box: probabilities).
        pixels: number of pixels changed (1: the one-pixel attack), >= 1.
        max_iter: DE generations, >= 1 (Su et al.: 100).
        population: candidates per generation and image, >= 1 (Su et al.: 400); DE uses
            ``max(1, population // (pixels * (2 + C_in)))`` members per parameter.
        targeted: targeted attack (``y`` holds targets) or untargeted (``y`` true labels).
        seed: seed of the numpy generator (None, or an integer >= 0); each ``generate`` call
            continues the same stream; setting ``seed`` restarts it.
        batch_size: images per ``predict`` call, >= 1.
        verbose: a progress bar over generations.

    Attributes set by :meth:`generate`:
        last_success: bool ``[N]`` a candidate passed the success test.
        last_generations: int ``[N]`` generations run per image (0: the initial population
            succeeded).
        last_queries: int ``[N]`` images sent to ``predict`` per image (repeated encodings are
            not sent again).
        last_candidates: float ``[N, D]`` the encoding of each returned perturbation (NaN for
            failed images).
    """

    attack_params = PixelAttack.attack_params + ["pixels", "population", "seed", "batch_size"]

    def __init__(self, classifier, pixels: int = 1, max_iter: int = 100, population: int = 400,
                 targeted: bool = False, seed: int | None = 0, batch_size: int = 256,
                 verbose: bool = False):
        _check_values(pixels, max_iter, population, batch_size, seed, targeted, verbose)
        super().__init__(classifier, th=pixels, es=1, max_iter=max_iter, targeted=targeted,
                         verbose=verbose)
        self.population = population
        self.batch_size = batch_size
        self.seed = seed
        self._check_params()
        self.last_success = self.last_generations = self.last_queries = None
        self.last_candidates = None

    # ART's PixelThreshold stores the pixel count as ``th``; one attribute under both names.
    @property
    def th(self):
        return self.pixels

    @th.setter
    def th(self, value):
        self.pixels = value

    @property
    def seed(self):
        return self._seed

    @seed.setter
    def seed(self, value):
        self._seed = value
        self._rng = np.random.default_rng(value)

    def _check_params(self) -> None:
        _check_values(self.pixels, self.max_iter, self.population, self.batch_size, self.seed,
                      self.targeted, self.verbose)
        super()._check_params()

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Adversarial images ``[N, ...]`` (float32); failed images come back bit-identical.

        Args:
            x: images in the classifier's ``clip_values``, ``[N, H, W, C]`` (or channels first).
            y: true labels (untargeted; default: the model's predictions) or targets
                (targeted), as indices ``[N]`` or one-hot ``[N, classes]``.
        """
        images = np.asarray(x).astype(ART_NUMPY_DTYPE)
        if images.ndim != 4:
            raise ValueError(f"x must be a batch of images [N, H, W, C], got shape {images.shape}")
        if y is None:
            if self.targeted:
                raise ValueError("Target labels `y` need to be provided for a targeted attack.")
            y = np.argmax(self.estimator.predict(images, batch_size=self.batch_size), axis=1)
        else:
            y = check_and_transform_label_format(y, nb_classes=self.estimator.nb_classes,
                                                 return_one_hot=False)
        y = np.asarray(y).reshape(-1).astype(np.int64)
        if len(y) != len(images):
            raise ValueError(f"{len(y)} labels for {len(images)} images")
        self.rescale = float(np.ravel(self.estimator.clip_values)[1]) != 255.0

        bounds = np.asarray(self._get_bounds(images[:1], self.pixels)[0], np.float64)
        low, width = bounds[:, 0], bounds[:, 1] - bounds[:, 0]
        n, dims = len(images), len(bounds)
        members = max(5, max(1, self.population // dims) * dims)
        x_adv = images.copy()
        self.last_success = np.zeros(n, bool)
        self.last_generations = np.zeros(n, np.int64)
        self.last_queries = np.zeros(n, np.int64)
        self.last_candidates = np.full((n, dims), np.nan)

        cache = _EnergyCache(self._radix(), n)

        def score(active, unit):
            """Energies ``[A, S]`` and success ``[A, S]`` of unit-cube candidates ``[A, S, D]``.

            Only candidates whose integer encoding is new for their image are sent to the model
            (once each); the others take the energy they got before (and failed the test).
            """
            candidates = (low + unit * width).reshape(-1, dims)
            owner = np.repeat(active, members)
            keys = cache.keys(owner, candidates.astype(np.int64) % self._radix())
            energy = np.empty(len(keys))
            success = np.zeros(len(keys), bool)
            seen, energy_seen = cache.lookup(keys)
            energy[seen] = energy_seen
            fresh, first, inverse = np.unique(keys[~seen], return_index=True,
                                              return_inverse=True)
            rows = np.flatnonzero(~seen)[first]
            fresh_energy, fresh_success = self._score(images, owner[rows], y[owner[rows]],
                                                      candidates[rows])
            energy[~seen], success[~seen] = fresh_energy[inverse], fresh_success[inverse]
            cache.add(fresh, fresh_energy)
            self.last_queries += np.bincount(owner[rows], minlength=n)
            return energy.reshape(-1, members), success.reshape(-1, members)

        def finish(active, unit, energy, success):
            """Records the images with a successful candidate; returns the still-active mask."""
            done = success.any(axis=1)
            for row in np.flatnonzero(done):
                i = active[row]
                best = np.argmin(np.where(success[row], energy[row], np.inf))
                candidate = low + unit[row, best] * width
                x_adv[i] = self._perturb_batch(images[i:i + 1].copy(), candidate[None])[0]
                self.last_success[i] = True
                self.last_candidates[i] = candidate
            return ~done

        active = np.arange(n)
        unit = self._latin_hypercube(n, members, dims)
        energy, success = score(active, unit)
        keep = finish(active, unit, energy, success)
        active, unit, energy = active[keep], unit[keep], energy[keep]
        generations = range(self.max_iter)
        if self.verbose:
            from tqdm.auto import tqdm

            generations = tqdm(generations, desc="Batched pixel attack", unit="generation")
        for _ in generations:
            if not len(active):
                break
            self.last_generations[active] += 1
            trial = self._mutants(unit, energy)
            trial_energy, success = score(active, trial)
            accept = trial_energy <= energy
            unit = np.where(accept[..., None], trial, unit)
            energy = np.where(accept, trial_energy, energy)
            keep = finish(active, trial, trial_energy, success)
            active, unit, energy = active[keep], unit[keep], energy[keep]
            if self.verbose:
                generations.set_postfix(active=len(active))
        return x_adv

    def _latin_hypercube(self, n: int, members: int, dims: int) -> np.ndarray:
        """scipy's Latin-hypercube initial population in the unit cube, per image: ``[n, S, D]``."""
        strata = (self._rng.uniform(size=(n, members, dims))
                  + np.arange(members)[:, None]) / members
        order = np.argsort(self._rng.uniform(size=(n, members, dims)), axis=1)
        return np.take_along_axis(strata, order, axis=1)

    def _mutants(self, unit: np.ndarray, energy: np.ndarray) -> np.ndarray:
        """best1bin trials with crossover 1: ``best + F (x_r0 - x_r1)``, r0 != r1 != member."""
        n, members, _ = unit.shape
        rows = np.arange(n)[:, None]
        member = np.arange(members)
        r0 = self._rng.integers(0, members - 1, size=(n, members))
        r0 += r0 >= member
        r1 = self._rng.integers(0, members - 2, size=(n, members))
        r1 += r1 >= np.minimum(member, r0)
        r1 += r1 >= np.maximum(member, r0)
        scale = self._rng.uniform(0.5, 1.0, size=(n, 1, 1))
        best = unit[np.arange(n), np.argmin(energy, axis=1)][:, None, :]
        trial = best + scale * (unit[rows, r0] - unit[rows, r1])
        outside = (trial < 0) | (trial > 1)
        trial[outside] = self._rng.uniform(size=int(outside.sum()))
        return trial

    def _radix(self) -> np.ndarray:
        """Number of distinct values of each parameter once ART truncates it: int ``[D]``."""
        return np.tile([self.img_rows, self.img_cols] + [256] * self.img_channels, self.pixels)

    def _score(self, images, owner, labels, candidates):
        """DE energies and ART's success test of ``candidates[i]`` ``[M, D]`` on
        ``images[owner[i]]`` against ``labels[i]``: ``[M]`` each.

        The perturbed images are built ``batch_size`` at a time, one ``predict`` call each.
        """
        probability = np.empty(len(candidates))
        predicted = np.empty(len(candidates), np.int64)
        for start in range(0, len(candidates), self.batch_size):
            part = slice(start, start + self.batch_size)
            batch = self._perturb_batch(images[owner[part]], candidates[part])
            scores = np.asarray(self.estimator.predict(batch, batch_size=self.batch_size))
            probability[part] = scores[np.arange(len(batch)), labels[part]]
            predicted[part] = np.argmax(scores, axis=1)
        success = predicted == labels if self.targeted else predicted != labels
        return (1 - probability if self.targeted else probability), success

    def _perturb_batch(self, images: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """ART's ``_perturb_image`` (and ``rescale_input``) for ``candidates[i]`` on
        ``images[i]``, in place, in the classifier's units: pixels not set stay bit-identical."""
        channels = self.img_channels
        encoding = candidates.astype(int).reshape(len(candidates), self.pixels, 2 + channels)
        values = encoding[..., 2:]
        values = self.rescale_input(values) if self.rescale else values.astype(ART_NUMPY_DTYPE)
        index = np.arange(len(images))
        for k in range(self.pixels):  # in order: a later pixel overrides an earlier one
            rows = encoding[:, k, 0] % self.img_rows
            cols = encoding[:, k, 1] % self.img_cols
            if self.estimator.channels_first:
                images[index, :, rows, cols] = values[:, k]
            else:
                images[index, rows, cols] = values[:, k]
        return images


_KEY_LIMIT = 2 ** 62  # the cache's keys (image, encoding) must fit in int64


class _EnergyCache:
    """Energies of the candidates scored so far, by image and integer encoding.

    ART's perturbation truncates the parameters to integers (positions modulo the image size),
    so two candidates with the same integer encoding make the same image; late in a run most
    trials repeat an earlier one. Keys are ``image * prod(radix) + encoding`` in mixed radix;
    where they would not fit in int64 (e.g. several pixels of colour images) the cache is off.
    """

    def __init__(self, radix: np.ndarray, images: int):
        self.radix = radix
        self.enabled = math.prod(int(r) for r in radix) * images < _KEY_LIMIT
        self._keys = np.zeros(0, np.int64)
        self._energy = np.zeros(0)
        self._issued = 0

    def keys(self, owner: np.ndarray, encoding: np.ndarray) -> np.ndarray:
        """int64 ``[M]`` keys of the encodings ``[M, D]`` (in [0, radix)) of images ``owner``;
        distinct fresh numbers when the cache is off."""
        if not self.enabled:
            self._issued += len(owner)
            return np.arange(self._issued - len(owner), self._issued, dtype=np.int64)
        key = owner.astype(np.int64)
        for column, base in zip(encoding.T, self.radix):
            key = key * int(base) + column
        return key

    def lookup(self, keys: np.ndarray):
        """``(seen, energies)``: bool ``[M]`` and the cached energies of the seen keys."""
        if not len(self._keys):
            return np.zeros(len(keys), bool), np.zeros(0)
        position = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        seen = self._keys[position] == keys
        return seen, self._energy[position[seen]]

    def add(self, keys: np.ndarray, energy: np.ndarray) -> None:
        """Stores new (sorted, unseen) keys and their energies."""
        if self.enabled and len(keys):
            position = np.searchsorted(self._keys, keys)
            self._keys = np.insert(self._keys, position, keys)
            self._energy = np.insert(self._energy, position, energy)


def _check_values(pixels, max_iter, population, batch_size, seed, targeted, verbose) -> None:
    """Raises ValueError naming the first parameter of :class:`BatchedPixelAttack` out of range."""
    for name, value in (("pixels", pixels), ("max_iter", max_iter), ("population", population),
                        ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
    for name, value in (("targeted", targeted), ("verbose", verbose)):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {value!r}")


def make_batched_pixel_attack(classifier, pixels: int = 1, max_iter: int = 100,
                              population: int = 400, seed: int = 0,
                              batch_size: int = 256) -> BatchedPixelAttack:
    """The untargeted one-pixel (``pixels=1``) attack of appendix F, many images per call."""
    return BatchedPixelAttack(classifier, pixels=pixels, max_iter=max_iter,
                              population=population, targeted=False, seed=seed,
                              batch_size=batch_size)
