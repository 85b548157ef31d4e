r"""Trains STD and LSG variants with identical data, budget and seeds, and writes a
side-by-side Markdown table with every number as mean ± standard deviation over seeds.

  python -m tools.compare_schemes --flagfile=fashion.flags --train_subset=10000 \
      --test_subset=0 --epochs=9 --seeds=0,1,2 --out=docs/results/fashion-schemes

Every flag of ``lsg_tf.train`` is accepted and shared by all runs; each run resumes if
interrupted (rerunning only trains what is missing). ``--test_subset=0`` uses the full test
set. Runs go to ``<out>/<variant>-s<seed>``, or ``--runs_dir`` if given.

Each run also leaves a record in ``<out>/runs/`` (its settings, metrics and which test images it
classifies right: :mod:`lsg_tf.reproduction.run_records`), small enough to commit with the
table. A seed whose run folder is gone (another machine, a cleaned disk) is read from its
record instead of trained again, so seeds trained at different times join one table.
"""

import dataclasses
import os
import sys

from absl import app, flags

from lsg_tf.cli import entry
from lsg_tf.cli.train_flags import config_from_flags  # defines the training flags
from lsg_tf.reproduction import commands
from lsg_tf.reproduction.experiments import VARIANTS, seed_run_name

_OUT = flags.DEFINE_string("out", None, "Folder for the table (and the runs).")
_RUNS_DIR = flags.DEFINE_string("runs_dir", None, "Folder for the runs; default --out.")
_VARIANTS = flags.DEFINE_list("variants", ["std", "alternate", "joint", "alternate_a0"],
                              f"Which runs, any of {sorted(VARIANTS)}.")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds; each variant trains once per seed.")
_EXISTING_ONLY = flags.DEFINE_bool(
    "existing_only", False, "Train nothing: tabulate the seeds whose runs have all finished.")
_BOOTSTRAP = flags.DEFINE_bool(
    "bootstrap", False,
    "Also load every run's model, predict its test set and add a paired bootstrap over test "
    "images of the LSG - STD accuracy difference.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    unknown = [v for v in _VARIANTS.value if v not in VARIANTS]
    if unknown:
        raise app.UsageError(f"--variants: unknown {unknown}, allowed {sorted(VARIANTS)}")
    if _BOOTSTRAP.value and "std" not in _VARIANTS.value:
        raise app.UsageError("--bootstrap compares with STD: add std to --variants")
    try:
        seeds = [int(s) for s in _SEEDS.value]
    except ValueError:
        raise app.UsageError(f"--seeds must be integers, got {_SEEDS.value}") from None
    from lsg_tf.cli.console import quiet_logs

    quiet_logs()
    from lsg_tf import run_io
    from lsg_tf.reproduction import run_records, scheme_table
    from lsg_tf.training import train_lib

    base = config_from_flags()
    if base.test_subset == 0:
        base = dataclasses.replace(base, test_subset=None)
    runs_dir = _RUNS_DIR.value or _OUT.value
    records_dir = os.path.join(_OUT.value, run_records.RECORDS_DIR)
    results, config_dirs, recorded = {}, {}, {}
    for seed in seeds:
        for name in _VARIANTS.value:
            config = dataclasses.replace(
                base, output_dir=os.path.join(runs_dir, seed_run_name(name, seed)), seed=seed,
                **VARIANTS[name])
            config_dirs[(name, seed)] = config.output_dir
            record = _record_for(records_dir, seed_run_name(name, seed), config)
            if record is not None and not run_io.is_finished(config.output_dir):
                recorded[(name, seed)] = record
                results[(name, seed)] = record["metrics"]
            elif not _EXISTING_ONLY.value:
                results[(name, seed)] = train_lib.train(config)
            elif run_io.is_finished(config.output_dir):
                results[(name, seed)] = run_io.read_json(
                    os.path.join(config.output_dir, run_io.METRICS_FILE))
    from lsg_tf.analysis.correctness import correct_per_image

    # Every run trained here is recorded, finished seed or not, with its per-image answers.
    answers = correct_per_image({key: config_dirs[key] for key in results if key not in recorded})
    for key, answer in answers.items():
        run = run_io.read_run(config_dirs[key])
        run_records.write_record(run_records.record_path(records_dir, seed_run_name(*key)),
                                 run.config, run.metrics, answer)
    answers.update({key: record["correct"] for key, record in recorded.items()})
    seeds = [s for s in seeds if all((n, s) in results for n in _VARIANTS.value)]
    if not seeds:
        raise app.UsageError("no seed has finished runs of every variant yet")
    command = commands.typed_command("tools.compare_schemes", sys.argv)
    correct = None
    if _BOOTSTRAP.value:
        lacking = [seed_run_name(*key) for key in results
                   if key[1] in seeds and answers[key] is None]
        if lacking:
            raise app.UsageError(f"--bootstrap: the records of {', '.join(lacking)} in "
                                 f"{records_dir} have no per-image answers: delete them to "
                                 f"train those runs again, or drop --bootstrap")
        correct = {key: answers[key] for key in results if key[1] in seeds}
    table = scheme_table.summary(results, _VARIANTS.value, seeds, correct)  # one bootstrap
    text = scheme_table.markdown(table, _VARIANTS.value, seeds, command,
                                 scheme_table.split_of(results))
    run_io.write_text(os.path.join(_OUT.value, "README.md"), text)
    run_io.write_json(os.path.join(_OUT.value, "results.json"), table)
    print(text)


def _record_for(records_dir: str, name: str, config) -> dict | None:
    """The record of run ``name`` in ``records_dir`` (None if it has none); refuses one trained
    with other settings."""
    from lsg_tf.reproduction import run_records

    path = run_records.record_path(records_dir, name)
    if not os.path.exists(path):
        return None
    record = run_records.read_record(path)
    try:
        run_records.check_same_settings(record["config"], dataclasses.asdict(config), path)
    except run_records.RecordMismatch as error:
        raise app.UsageError(str(error)) from None
    return record


if __name__ == "__main__":
    flags.mark_flag_as_required("out")
    flags.FLAGS.set_default("output_dir", "unused")
    entry.run(main)
