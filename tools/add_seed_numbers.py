r"""Adds MIS (appendix B) and C_IC (Table 2) to finished runs trained before the end of training
recorded them, so that the seeds tables can pair them by seed.

  python -m tools.add_seed_numbers --run=runs/vit/std-s0 --run=runs/vit/joint-s0

Each run's model scores its own test split (the data of its ``config.json``) exactly as
``lsg_tf.train`` does at the end of training (:func:`lsg_tf.training.train_lib.seed_numbers`);
``metrics.json`` gets ``mis`` and ``c_ic`` (and ``seed_numbers_added: true``, so that the numbers
are known to be added afterwards) and is rewritten atomically. Runs that already have both are
left alone unless ``--overwrite``. Runs scored on held-out validation data are refused: their
validation split is not rebuilt here.
"""

import os
import sys

from absl import app, flags

from lsg_tf.cli import entry

_RUN = flags.DEFINE_multi_string("run", None, "A finished run folder (repeatable).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False,
                               "Recompute runs that already record MIS and C_IC.")


def add_seed_numbers(run_dir: str, overwrite: bool = False, tests: dict | None = None) -> bool:
    """Adds ``mis`` and ``c_ic`` to ``run_dir``'s metrics.json; returns whether it wrote.

    ``tests`` (optional) caches the loaded test data by its spec across calls.
    """
    from lsg_tf import load_model, run_io
    from lsg_tf.analysis import report_lib
    from lsg_tf.core import features
    from lsg_tf.training.train_lib import seed_numbers

    path = os.path.join(run_dir, run_io.METRICS_FILE)
    metrics = run_io.read_json(path)
    if not overwrite and "mis" in metrics and "c_ic" in metrics:
        return False
    if metrics.get("evaluated_on", "test") != "test":
        raise ValueError(f"{run_dir} was scored on {metrics['evaluated_on']} data "
                         "(--validation_size); only runs scored on the test split can be "
                         "completed here")
    run = run_io.read_run(run_dir)
    spec = report_lib.data_spec(run.config)
    key = tuple(sorted(spec.items()))
    tests = {} if tests is None else tests
    if key not in tests:
        tests[key] = report_lib.load_test_data(spec)
    test = tests[key]
    model = load_model(run.model_path)
    pooled, _ = features.pooled_features_and_logits(model, test.images)
    metrics.update(seed_numbers(model, pooled, test.labels, len(test.class_names)),
                   seed_numbers_added=True)
    run_io.write_json(path, metrics)
    return True


def main(argv):
    from lsg_tf import run_io
    from lsg_tf.cli.console import quiet_logs

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        run_io.check_finished_runs(_RUN.value)
    except run_io.RunIOError as error:
        sys.exit(f"error: {error}")
    quiet_logs()
    tests = {}
    for run_dir in _RUN.value:
        try:
            wrote = add_seed_numbers(run_dir, _OVERWRITE.value, tests)
        except ValueError as error:
            sys.exit(f"error: {error}")
        metrics = run_io.read_json(os.path.join(run_dir, run_io.METRICS_FILE))
        state = "added" if wrote else "already there, kept (--overwrite recomputes)"
        print(f"{run_dir}: MIS {metrics['mis']['mis']:.4f}, C_IC {metrics['c_ic']:.4f} ({state})")


if __name__ == "__main__":
    flags.mark_flag_as_required("run")
    entry.run(main)
