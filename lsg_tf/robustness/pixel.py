"""The one-pixel attack (Su et al., 2019; appendix F) with a configurable budget.

ART's ``PixelAttack`` searches ``pixels`` (x, y, value per channel) tuples by differential
evolution (DE), then keeps a candidate only if it changes the label; failed images come back
unchanged. ART fixes the DE population at about 400 candidates and scores them one image per
``predict`` call, which is slow. :class:`BudgetedPixelAttack` keeps ART's encoding, bounds,
perturbation and success test, and changes only the DE call: the population size, the number
of generations and the random generator are parameters, and each generation's population is
scored in ONE batched prediction (``vectorized=True``). A full run costs about
``population * (max_iter + 1)`` queries per image, plus one success check per generation.

https://arxiv.org/abs/1710.08864 (one-pixel attack), https://arxiv.org/abs/1906.06026 (ART's
implementation).
"""

from __future__ import annotations

import numpy as np
from art.attacks.evasion import PixelAttack
from scipy.optimize import differential_evolution


class BudgetedPixelAttack(PixelAttack):
    """ART's untargeted/targeted pixel attack with a DE budget and one prediction per generation.

    Args:
        classifier: an ART classifier with ``clip_values`` (black-box: probabilities).
        pixels: number of pixels changed (1: the one-pixel attack), >= 1.
        max_iter: DE generations, >= 1 (Su et al.: 100).
        population: candidates per generation, >= 1 (Su et al.: 400); DE uses
            ``max(1, population // (pixels * (2 + C_in)))`` members per parameter.
        targeted: targeted attack (``y`` holds targets) or untargeted (``y`` true labels).
        seed: seed of the DE generator; each ``generate`` call continues the same stream,
            and ``set_params(seed=...)`` restarts it.
        verbose: ART's progress bar.
    """

    attack_params = PixelAttack.attack_params + ["pixels", "population", "seed"]

    def __init__(self, classifier, pixels: int = 1, max_iter: int = 100, population: int = 400,
                 targeted: bool = False, seed: int = 0, verbose: bool = False):
        for name, value in (("pixels", pixels), ("max_iter", max_iter),
                            ("population", population)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        super().__init__(classifier, th=int(pixels), es=1, max_iter=int(max_iter),
                         targeted=bool(targeted), verbose=bool(verbose))
        self.pixels = int(pixels)
        self.population = int(population)
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def set_params(self, **kwargs) -> None:
        """ART's ``set_params``; a new ``seed`` restarts the DE generator from it."""
        super().set_params(**kwargs)
        if "seed" in kwargs:
            self._rng = np.random.default_rng(self.seed)

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """ART's ``generate``; pixels the attack did not set are returned bit-identical.

        ART maps images to 0-255 and back, which changes the last bits of every pixel of
        non-integer-valued images; those round-off changes are undone here so that only the
        ``pixels`` perturbed locations differ from ``x``.
        """
        x = np.asarray(x)
        x_adv = super().generate(x, y, **kwargs)
        low, high = (float(v) for v in np.ravel(self.estimator.clip_values)[:2])
        roundoff = np.abs(x_adv - x) <= 1e-5 * (high - low)
        return np.where(roundoff, x, x_adv).astype(x_adv.dtype, copy=False)

    def _attack(self, image: np.ndarray, target_class, limit: int):
        """DE search for ``limit`` pixels; returns ``(success, image in [0, 255] units)``."""
        bounds, _ = self._get_bounds(image, limit)

        def objective(candidates):
            # scipy passes [parameters, S]; ART's perturbation takes [S, parameters].
            adv = self._perturb_image(np.asarray(candidates).T, image)
            if self.rescale:
                adv = self.rescale_input(adv)
            scores = self.estimator.predict(adv)[:, target_class]
            return 1 - scores if self.targeted else scores

        def stop(xk, convergence=None):  # noqa: ARG001  (scipy's legacy callback signature)
            return self._attack_success(xk, image, target_class)

        result = differential_evolution(
            objective, bounds, maxiter=self.max_iter,
            popsize=max(1, self.population // len(bounds)), recombination=1, atol=-1,
            callback=stop, polish=False, vectorized=True, updating="deferred",
            rng=self._rng)
        if self._attack_success(result.x, image, target_class):
            return True, self._perturb_image(result.x, image)[0]
        return False, image


def make_pixel_attack(classifier, pixels: int = 1, max_iter: int = 100, population: int = 400,
                      seed: int = 0) -> BudgetedPixelAttack:
    """The untargeted one-pixel (``pixels=1``) attack of appendix F; see the class."""
    return BudgetedPixelAttack(classifier, pixels=pixels, max_iter=max_iter,
                               population=population, targeted=False, seed=seed)
