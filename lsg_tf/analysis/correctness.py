"""Which test images each trained run classifies right: the pairs of a paired bootstrap.

The LSG − STD accuracy difference over seeds
(:func:`lsg_tf.reproduction.scheme_table.bootstrap_difference`) pairs one image's LSG and STD
predictions; this module loads each finished run's model and its own test set (runs of one
seed share it) and predicts it once.
"""

from __future__ import annotations

import sys

import numpy as np


def correct_per_image(run_dirs: dict, progress: bool = True) -> dict:
    """``{key: bool [N]}``: which test images the run in ``run_dirs[key]`` classifies right.

    Args:
        run_dirs: ``{key: finished run folder}``, e.g. keyed by ``(variant, seed)``.
        progress: a progress bar over the runs (on a terminal).
    """
    from tqdm.auto import tqdm

    from lsg_tf import load_model, run_io
    from lsg_tf.analysis import report_lib

    tests, correct = {}, {}
    for key, run_dir in tqdm(sorted(run_dirs.items()), desc="test-set predictions",
                             unit="run", disable=not (progress and sys.stderr.isatty())):
        if not run_io.is_finished(run_dir):
            raise FileNotFoundError(f"run_dirs[{key!r}]: {run_dir} is not a finished run")
        run = run_io.read_run(run_dir)
        spec = report_lib.data_spec(run.config)
        spec_key = tuple(sorted(spec.items()))
        if spec_key not in tests:
            tests[spec_key] = report_lib.load_test_data(spec)
        test = tests[spec_key]
        logits = load_model(run.model_path).predict(test.images, batch_size=256, verbose=0)
        correct[key] = np.argmax(logits, axis=-1) == np.asarray(test.labels)
    return correct
