r"""Which recipe change moves STD, and which moves LSG − STD: an ablation on validation data.

  python -m tools.recipe_ablation --flagfile=fashion.flags --train_subset=5000 \
      --validation_size=1000 --epochs=9 --schemes=std,joint --seeds=0 \
      --out=docs/results/recipe-ablation --runs_dir=runs/recipe-ablation

Every run holds ``--validation_size`` images out of the training subset and is scored on
them (the test set is never read). Recipes are the library's recipe presets
(:data:`lsg_tf.training.recipes.RECIPES`): the old recipe, the new one, and the new one with each of
its changes undone. Every other flag of ``lsg_tf.train`` is shared by all runs; each run
resumes if interrupted, so rerunning the command only trains what is missing.
"""

import dataclasses
import os
import sys

from absl import app, flags

from lsg_tf.cli import entry
from lsg_tf.cli.train_flags import config_from_flags  # defines the training flags
from lsg_tf.reproduction import commands
from lsg_tf.training.recipes import ABLATIONS, RECIPES

_OUT = flags.DEFINE_string("out", None, "Folder for the table (and the runs).")
_RUNS_DIR = flags.DEFINE_string("runs_dir", None, "Folder for the runs; default --out.")
_RECIPES = flags.DEFINE_list("recipes", list(ABLATIONS), f"Recipes, any of {sorted(RECIPES)}.")
_SCHEMES = flags.DEFINE_list("schemes", ["std", "joint"], "Schemes to train per recipe.")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds (initialisation, data order, validation draw).")
_EXISTING_ONLY = flags.DEFINE_bool(
    "existing_only", False,
    "Train nothing: tabulate the finished runs among the requested ones (each recipe over "
    "the seeds it has).")


CURVES = "curves.png"  # held-out accuracy after each epoch, first seed


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from lsg_tf.cli.console import quiet_logs

    quiet_logs()
    from lsg_tf import run_io
    from lsg_tf.core import plots
    from lsg_tf.training import recipes, train_lib

    base = config_from_flags()
    if not base.validation_size:
        raise app.UsageError("--validation_size is required: recipes are chosen on validation data")
    unknown = [r for r in _RECIPES.value if r not in RECIPES]
    if unknown:
        raise app.UsageError(f"--recipes: unknown {unknown}, allowed {sorted(RECIPES)}")
    seeds = [int(s) for s in _SEEDS.value]
    results = {}
    for recipe in _RECIPES.value:
        for scheme in _SCHEMES.value:
            for seed in seeds:
                # A plain STD run ignores the schedule fields: recipes that differ only
                # there share one STD run.
                run_recipe = recipes.std_equivalent(recipe) if scheme == "std" else recipe
                config = dataclasses.replace(
                    base, output_dir=os.path.join(_RUNS_DIR.value or _OUT.value,
                                                 f"{run_recipe}-{scheme}-s{seed}"),
                    scheme=scheme, seed=seed, **RECIPES[run_recipe])
                if _EXISTING_ONLY.value:
                    if not run_io.is_finished(config.output_dir):
                        continue
                    metrics = run_io.read_json(os.path.join(config.output_dir,
                                                            run_io.METRICS_FILE))
                else:
                    metrics = train_lib.train(config)
                results[(recipe, scheme, seed)] = metrics
                print(f"{recipe} {scheme} seed {seed}: validation accuracy "
                      f"{metrics['validation/accuracy']:.4f}, "
                      f"density {metrics['gate_density']:.3f}",
                      flush=True)
    command = commands.typed_command("tools.recipe_ablation", sys.argv)
    text = recipes.ablation_markdown(results, _RECIPES.value, _SCHEMES.value, seeds, command)
    seed = seeds[0]
    histories = {}  # one line per trained run: recipes that share an STD run draw it once
    for recipe in _RECIPES.value:
        for scheme in _SCHEMES.value:
            owner = recipes.std_equivalent(recipe) if scheme == "std" else recipe
            if (recipe, scheme, seed) in results:
                histories.setdefault(f"{owner} {scheme}",
                                     results[(recipe, scheme, seed)]["history"])
    plots.save_figure(plots.epoch_curves_figure(histories), os.path.join(_OUT.value, CURVES))
    text += (f"\n![Held-out accuracy after each epoch, seed {seed}]({CURVES})\n")
    run_io.write_text(os.path.join(_OUT.value, "README.md"), text)
    print(text)


if __name__ == "__main__":
    flags.mark_flag_as_required("out")
    flags.FLAGS.set_default("output_dir", "unused")
    entry.run(main)
