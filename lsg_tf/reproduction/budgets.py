"""The budgets of a reproduction (epochs, data, analysis sizes) and the training runs they make.

A :class:`Budget` fixes everything but the variant and the seed; :func:`train_config` turns
(budget, variant, seed) into the :class:`~lsg_tf.training.train_lib.TrainConfig` of one run.
"""

from __future__ import annotations

import dataclasses
import os

from lsg_tf import flags as flagfiles
from lsg_tf.reproduction.experiments import (
    VARIANTS,
    cifar_setting,
    seed_run_name,
)
from lsg_tf.robustness import radii


@dataclasses.dataclass(frozen=True)
class Budget:
    """Everything that sizes the experiments; the same for every model.

    Training follows ``flagfile`` (:func:`lsg_tf.reproduction.experiments.cifar_setting`;
    ``cifar.flags``: the paper's section 4 setting with the library's recipe); the budget sets the
    data, epochs, batch and schedule, and the sample counts of the analyses.
    """

    name: str
    train_subset: int | None  # stratified, seeded; None = all
    test_subset: int | None
    epochs: int
    batch_size: int
    lr_schedule: str
    model: str = "resnet20"
    flagfile: str = "cifar.flags"  # every other training setting; a packaged flagfile's name
    # Report (section 4.1-4.3).
    phi_steps: int = 500
    mis_max_examples: int | None = 5000
    # Attacks (section 4.5, appendix F).
    detect_train_per_class: tuple = (100, 500, 1000)
    detect_test_per_class: int = 100
    detect_repeats: int = 5
    pgd_iter: int = 40
    pgd_eps: tuple = radii.EPS_SWEEP
    pixel_images: int = 100
    pixel_iter: int = 100
    pixel_population: int = 400
    ls_images: int = 100
    ls_max_candidates: int | None = None
    ls_rounds: int = 150
    # Localization: the first this many photos with a mapped class (None = all).
    localization_max_images: int | None = None

    def describe(self, attacks: bool = True, epochs: bool = True) -> str:
        """The budget in one sentence; ``attacks=False`` leaves out the attack stage's settings,
        ``epochs=False`` the number of epochs."""
        subset = (f"a stratified {self.train_subset:,}-image training subset "
                  f"(seed {cifar_setting()['seed']})"
                  if self.train_subset else "the full training set")
        test = f"a {self.test_subset:,}-image test subset" if self.test_subset \
            else "the full test set"
        training = (f"{self.model}, {subset}, {test}, "
                    + (f"{self.epochs} epochs, " if epochs else "") + "batch "
                    + f"{self.batch_size}, lr schedule {self.lr_schedule}; ")
        analyses = (f"Φ with {self.phi_steps} Adam steps; MIS on "
                    + (f"{self.mis_max_examples:,} test images" if self.mis_max_examples
                       else "all test images"))
        if not attacks:
            return training + analyses
        return (training + "detection with "
                f"{'/'.join(str(n) for n in self.detect_train_per_class)} training and "
                f"{self.detect_test_per_class} test images per class, {self.detect_repeats} "
                f"repeats, targeted PGD at ε = "
                f"{', '.join(radii.eps_label(e) for e in self.pgd_eps)} "
                f"with {self.pgd_iter} iterations; one-pixel attack on "
                f"{self.pixel_images} images ({self.pixel_iter} generations × "
                f"{self.pixel_population}); local search on {self.ls_images} images"
                + (f" (at most {self.ls_max_candidates} candidates per round)"
                   if self.ls_max_candidates else "")
                + f", {self.ls_rounds} rounds; " + analyses)


def flagfile_budget(name: str, flagfile: str, **analyses) -> Budget:
    """A :class:`Budget` that trains as the packaged ``flagfile`` (``"cifar_cpu.flags"``) does
    (model, subsets, epochs, batch and schedule) and runs the analyses at the sample counts
    ``analyses`` (the rest: defaults)."""
    setting = cifar_setting(flagfiles.path(flagfile))
    return Budget(name=name, model=setting["model"], train_subset=setting.get("train_subset"),
                  test_subset=setting.get("test_subset"), epochs=setting["epochs"],
                  batch_size=setting["batch_size"], lr_schedule=setting["lr_schedule"],
                  flagfile=flagfile, **analyses)


BUDGETS = {
    # cifar_cpu.flags: about 20 minutes of training per model on a 2-core CPU, plus the
    # analyses (the results page lists each stage's wall time).
    # Table 5 on 150 test images: at least 100 correctly classified ones per model at ~75%
    # accuracy; PGD with 10 iterations (step 2.5 ε / 10) at each ε of the sweep.
    "cpu": flagfile_budget("cpu", "cifar_cpu.flags", detect_train_per_class=(20, 50, 100),
                           detect_test_per_class=50, detect_repeats=3, pgd_iter=10,
                           pixel_images=150, pixel_iter=30, pixel_population=100,
                           ls_images=150, ls_max_candidates=128),
    # cifar.flags: the paper's setting (section 4 and appendix F), for a GPU.
    "paper": flagfile_budget("paper", "cifar.flags", mis_max_examples=None),
}


@dataclasses.dataclass(frozen=True)
class DataSource:
    """Where the CIFAR-10 data and the localization photos are."""

    dataset: str = "image_folder"  # or "cifar10" (TFDS)
    data_dir: str | None = None
    cache_dir: str | None = None
    voc_dir: str | None = None  # VOC-layout MSRC-v2; None skips localization


def main_seed(budget: Budget) -> int:
    """The seed of the budget's flagfile: its runs are the ones the analyses use."""
    return int(cifar_setting(flagfiles.path(budget.flagfile)).get("seed", 0))


def check_seeds(budget: Budget, seeds) -> tuple:
    """``seeds`` as distinct integers, the flagfile's seed first; ValueError otherwise."""
    main = main_seed(budget)
    if seeds is None:
        return (main,)
    try:
        seeds = [int(s) for s in seeds]
    except (TypeError, ValueError):
        raise ValueError(f"seeds must be integers, got {seeds!r}") from None
    if len(set(seeds)) != len(seeds) or main not in seeds:
        raise ValueError(f"seeds must be distinct and include the flagfile's seed {main} "
                         f"(the analyses' runs), got {seeds}")
    return (main,) + tuple(s for s in seeds if s != main)


def train_config(budget: Budget, variant: str, runs_dir: str, source: DataSource,
                 seed: int | None = None):
    """The :class:`~lsg_tf.training.train_lib.TrainConfig` of one variant under ``budget``.

    The budget's flagfile with its model, data, epochs, batch and schedule, then the
    variant's overrides. ``seed`` other than the flagfile's (initialisation, data order and
    training subset) trains into ``runs_dir/<variant>-s<seed>`` instead of
    ``runs_dir/<variant>``.
    """
    from lsg_tf.training.train_lib import TrainConfig

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    settings = cifar_setting(flagfiles.path(budget.flagfile))
    main = int(settings.get("seed", 0))
    seed = main if seed is None else int(seed)
    folder = variant if seed == main else seed_run_name(variant, seed)
    settings.update(
        output_dir=os.path.join(runs_dir, folder), seed=seed, dataset=source.dataset,
        data_dir=source.data_dir, cache_dir=source.cache_dir, model=budget.model,
        train_subset=budget.train_subset, test_subset=budget.test_subset,
        epochs=budget.epochs, batch_size=budget.batch_size, lr_schedule=budget.lr_schedule,
        verbose=2, export_dir=None)
    settings.update(VARIANTS[variant])
    return TrainConfig(**settings)
