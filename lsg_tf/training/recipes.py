"""Training recipes: named sets of optimisation settings, and the ablation table over them.

The paper gives the optimiser and schedule for 150 epochs on full CIFAR-10. At a CPU budget
(15 epochs) the base recipe decides how much accuracy LSG appears to cost. ``"he2016"`` is
the recipe of He et al. (2016) as this library used it first; ``"torch"`` adds the four
changes that an independent PyTorch implementation of LSG used (see each field's rationale):

* ``lr_warmup_fraction=0.15``: at G = 1 the joint cost doubles the backbone's gradient and the
  gate falls from density 1 to about 0.2 in the first LSG epoch; a warm-up from lr/25 lets
  both settle while the rate is small.
* ``nesterov=True``: Nesterov momentum, a look-ahead step that is standard for ResNets.
* ``weight_decay=5e-4``, ``weight_decay_scope="all"``: decay on every network variable
  (BatchNorm's scale and offset and the classifier bias too; never G), stronger than 1e-4 on
  kernels, which regularises more at a small data budget.
* ``initializer="torch_default"``: conv kernels six times smaller in squared norm than
  he_normal; behind BatchNorm the same gradient step then changes a filter's direction more
  (a larger effective learning rate).

Each ``no_<change>`` recipe is ``torch`` with one change undone, for the ablation;
``torch_onecycle`` swaps warm-up + cosine for PyTorch's one-cycle rate, and
``torch_std_epoch1`` trains the first epoch on the STD path only (a gate warm-up).
"""

from __future__ import annotations

import numpy as np

from lsg_tf.reporting.stats import format_mean_std

HE2016 = dict(lr_schedule="cosine", lr_warmup_fraction=0.0, nesterov=False,
              weight_decay=1e-4, weight_decay_scope="kernels", initializer="he_normal")
TORCH = dict(lr_schedule="cosine", lr_warmup_fraction=0.15, nesterov=True,
             weight_decay=5e-4, weight_decay_scope="all", initializer="torch_default")

RECIPES = {
    "he2016": HE2016,
    "torch": TORCH,
    "torch_onecycle": {**TORCH, "lr_schedule": "onecycle"},
    "no_warmup": {**TORCH, "lr_warmup_fraction": 0.0},
    "no_nesterov": {**TORCH, "nesterov": False},
    "no_decay_all": {**TORCH, "weight_decay": 1e-4, "weight_decay_scope": "kernels"},
    "no_torch_init": {**TORCH, "initializer": "he_normal"},
    # Gate warm-up: one epoch of the STD path before the scheme starts.
    "torch_std_epoch1": {**TORCH, "warmup_epochs": 1},
}
"""Recipe name -> TrainConfig fields it sets."""

DEFAULT = RECIPES["no_torch_init"]
"""The library's recipe (``TrainConfig``'s and the flagfiles' defaults): ``torch`` with
he_normal conv kernels, chosen on validation data (docs/results/recipe-ablation): the same
mean STD accuracy as ``torch`` and 2.8 points more for LSG-joint over three seeds."""

# When the alternating scheme trains its LSG epochs, on top of DEFAULT; every preset sets all
# five timing fields, so a flagfile's own timing does not leak in. Algorithm 1 as written
# (period 3, phase 1) trains the LSG path in epochs 1, 4, 7, 10 and 13 of 15, so the STD
# classifier has a single low-rate epoch to recover from the last gated one.
ALGORITHM1 = dict(period=3, phase=1, warmup_epochs=0, lsg_weight=1.0, period_unit="epoch")
RECIPES.update({
    "alt_algorithm1": {**DEFAULT, **ALGORITHM1},
    # LSG epochs 0, 3, 6, 9, 12: two STD epochs at the end.
    "alt_phase0": {**DEFAULT, **ALGORITHM1, "phase": 0},
    # One STD epoch first, then LSG epochs 3, 6, 9, 12 (cifar_cpu.flags).
    "alt_std_first": {**DEFAULT, **ALGORITHM1, "warmup_epochs": 1, "phase": 0},
    # A longer cycle: LSG epochs 1, 6, 11.
    "alt_period5": {**DEFAULT, **ALGORITHM1, "period": 5},
    # Half the gated cost's weight λ in the LSG epochs.
    "alt_half_lambda": {**DEFAULT, **ALGORITHM1, "lsg_weight": 0.5},
    # A period of 4: LSG epochs 3, 7, 11, three STD epochs at the end (with a period of 3,
    # one of the last three epochs is always an LSG epoch).
    "alt_period4": {**DEFAULT, **ALGORITHM1, "period": 4, "phase": 3},
    # cifar_cpu.flags' timing with half the gated cost's weight: the LSG epochs move the
    # shared backbone and classifier half as far from the STD path.
    "alt_std_first_half_lambda": {**DEFAULT, **ALGORITHM1, "warmup_epochs": 1, "phase": 0,
                                  "lsg_weight": 0.5},
    # The remaining differences from the reference PyTorch recipe, on cifar_cpu.flags' timing:
    # reflect padding before the random crop (no black frame in the crops) and option-B
    # shortcuts (a 1x1 convolution and BN where the shape changes), alone and together.
    # Each of the two alone sets the other's earlier value too, so a flagfile's own cannot
    # leak in.
    "alt_std_first_reflect": {**DEFAULT, **ALGORITHM1, "warmup_epochs": 1, "phase": 0,
                              "crop_padding": "reflect", "shortcut": "a"},
    "alt_std_first_option_b": {**DEFAULT, **ALGORITHM1, "warmup_epochs": 1, "phase": 0,
                               "crop_padding": "zeros", "shortcut": "b"},
    "alt_std_first_reflect_b": {**DEFAULT, **ALGORITHM1, "warmup_epochs": 1, "phase": 0,
                                "crop_padding": "reflect", "shortcut": "b"},
    # The joint scheme as lsg_tf.reproduction.experiments.VARIANTS trains it (no STD epoch first),
    # with the library recipe and with both of the changes above.
    "joint_timing": {**DEFAULT, **ALGORITHM1},
    "joint_timing_reflect_b": {**DEFAULT, **ALGORITHM1, "crop_padding": "reflect",
                               "shortcut": "b"},
})

# The paths taking turns every few optimizer steps instead of every few epochs, on top of
# cifar.flags' recipe: one STD epoch first, then the LSG path on every third step. The
# epoch clock's STD path loses 3-4 test points in each LSG epoch and the last STD epochs, at
# the cosine's smallest rates, do not win all of it back (docs/results/alternate-options);
# on a step clock the STD path is never more than two steps away. It gained nothing on
# validation data (docs/results/alternate-steps).
RECIPES.update({
    "alt_steps_reflect_b": {**DEFAULT, **ALGORITHM1, "warmup_epochs": 1, "phase": 0,
                            "period_unit": "step", "crop_padding": "reflect", "shortcut": "b"},
    # A diagnostic, not a recipe: STD given only the STD-path share of the alternating
    # scheme's training (11 of 15 epochs, the cosine over those 11), to tell how much of
    # LSG-alternate's cost is the steps it hands to the LSG path.
    "std_11_epochs_reflect_b": {**DEFAULT, "epochs": 11, "crop_padding": "reflect",
                                "shortcut": "b"},
})

SCHEDULE_FIELDS = ("period", "phase", "warmup_epochs", "lsg_weight", "period_unit")
"""Fields that change only the LSG schemes: a plain STD run ignores them."""


def std_equivalent(recipe: str) -> str:
    """The first recipe whose STD run is the same as ``recipe``'s (schedule fields ignored).

    The ablation trains one STD run per such group instead of one per recipe.
    """
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, got {recipe!r}")

    def optimisation(name):
        return {k: v for k, v in RECIPES[name].items() if k not in SCHEDULE_FIELDS}

    return next(r for r in RECIPES if optimisation(r) == optimisation(recipe))


ABLATIONS = ("he2016", "torch", "torch_onecycle", "no_warmup", "no_nesterov", "no_decay_all",
             "no_torch_init")
"""The default order of the ablation table."""


def ablation_markdown(results: dict, recipes, schemes, seeds, command: str) -> str:
    """The ablation table: validation accuracy (%) per recipe and scheme, and LSG − STD.

    Args:
        results: ``{(recipe, scheme, seed): metrics}`` of runs scored on validation data.
    """
    lsg_schemes = [s for s in schemes if s != "std"]
    recipes = [r for r in recipes
               if all(any((r, s, seed) in results for seed in seeds) for s in schemes)]
    head = ["recipe"] + [f"{s} val. acc. (%)" for s in schemes]
    head += [f"{s} − std (points)" for s in lsg_schemes if "std" in schemes]
    head += [f"{s} density" for s in lsg_schemes]
    head += [f"{s} Φ" for s in schemes]
    head += [f"{s} masked recall (max)" for s in lsg_schemes]
    head.insert(1, "seeds")
    lines = [f"Command: `{command}`", "",
             "Validation accuracy over the seeds each recipe was run with (mean ± sample std "
             "where there are several); differences are paired by seed. Φ (Eq. 2) and masking "
             "(each class's filters with G > 0.5 zeroed in turn: the highest recall a masked "
             "class keeps) on the same validation images.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for recipe in recipes:
        have = [seed for seed in seeds if all((recipe, s, seed) in results for s in schemes)]
        acc = {s: [results[(recipe, s, seed)]["validation/accuracy"] for seed in have]
               for s in schemes}
        row = [recipe, ",".join(map(str, have))] + [format_mean_std(acc[s]) for s in schemes]
        if "std" in schemes:
            row += [format_mean_std(np.subtract(acc[s], acc["std"])) for s in lsg_schemes]
        def column(scheme, get, digits):
            return format_mean_std([get(results[(recipe, scheme, seed)]) for seed in have],
                                   scale=1.0, digits=digits)

        row += [column(s, lambda m: m["gate_density"], 3) for s in lsg_schemes]
        row += [column(s, lambda m: m["phi"]["phi"], 4) for s in schemes]
        row += [column(s, lambda m: m["masking"]["max_recall_after"], 2) for s in lsg_schemes]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Recipes (fields set on top of the command's flags):", ""]
    lines += [f"- `{r}`: " + ", ".join(f"{k}={v}" for k, v in RECIPES[r].items()) for r in recipes]
    return "\n".join(lines) + "\n"
