"""The reproduction's experiments as data: the CIFAR-10 setting, the variants, the results folder.

:func:`cifar_setting` reads the paper's section-4 training setting from ``cifar.flags``, or
the CPU-sized one from ``cifar_cpu.flags`` (the one place their values are written):
:mod:`lsg_tf.reproduction.reproduce_lib` trains every variant and sizes its budgets with them, and
:mod:`lsg_tf.reproduction.results_page` describes them. No TensorFlow.
"""

from __future__ import annotations

from lsg_tf import flags as flagfiles
from lsg_tf.reproduction import commands

CIFAR_FLAGFILE = flagfiles.path("cifar")  # the paper's setting
CIFAR_CPU_FLAGFILE = flagfiles.path("cifar_cpu")  # fewer data and epochs

# The results folder: one subfolder per analysis stage, README.md beside them.
REPORT_DIR = "report"
ATTACK_DIR = "attack_eval"
LOCALIZATION_DIR = "localization"
SEEDS_DIR = "seeds"  # every variant over several seeds

# ResNet20 has K = 64 top filters; with C = 10 classes: 6 filters per class and 4 shared.
FIXED_GATE_SPEC = "6,4"

# Training overrides of each variant; everything else is shared.
VARIANTS = {
    "std": {"scheme": "std"},
    "alternate": {"scheme": "alternate"},
    # Both paths from the first epoch, whatever STD warm-up the flagfile gives the
    # alternating scheme (cifar_cpu.flags).
    "joint": {"scheme": "joint", "warmup_epochs": 0},
    "alternate_a0": {"scheme": "alternate", "sparsity_coefficient": 0.0},
    "fixed_gate": {"scheme": "alternate", "fixed_gate": FIXED_GATE_SPEC},
}
MAIN_VARIANTS = ("std", "alternate", "joint")
ABLATIONS = ("alternate_a0", "fixed_gate")


def seed_run_name(variant: str, seed: int) -> str:
    """The folder name of one variant's run with one seed (several seeds side by side)."""
    return f"{variant}-s{int(seed)}"


LABELS = {"std": "STD", "alternate": "LSG-alternate", "joint": "LSG-joint",
          "alternate_a0": "LSG-alternate a=0", "fixed_gate": "LSG fixed gate"}


def cifar_setting(flagfile: str = CIFAR_FLAGFILE) -> dict:
    """A CIFAR-10 flagfile as :class:`~lsg_tf.training.train_lib.TrainConfig` values
    (``lsg_tf.train``'s flags). ``cifar.flags``: ResNet20, SGD, the learning rate and its recipe,
    Algorithm 1's schedule, λ, a, the density target, the gate's optimizer, the seed, epochs and
    batch."""
    return commands.read_flagfile(flagfile, "lsg_tf.train")
