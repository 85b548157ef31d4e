r"""Side-by-side interpretability report of STD and LSG runs (paper sections 4.1-4.3, B-D).

  python -m lsg_tf.report --run=runs/std --run=runs/lsg --out=reports/std-vs-lsg

Evaluates every analysis of :mod:`lsg_tf.analysis` (Table 1 with Φ, Table 2's C_IC, masking,
feature-gate similarity, MIS, cluster centres, filters per class) on the same test data for
each run, and writes ``OUT/report.md``, ``OUT/report.json`` and PNG figures. The test data is
the first run's test split (its ``config.json``), optionally overridden by the flags below.
"""

from __future__ import annotations

import sys

from absl import app, flags

from lsg_tf.cli import entry
from lsg_tf.reproduction import commands

_RUN = flags.DEFINE_multi_string("run", None, "A finished run folder; repeat for each run.")
_OUT = flags.DEFINE_string("out", None, "Folder for report.md, report.json and the figures.")
_NAMES = flags.DEFINE_list("names", None, "Comma-separated run labels (default: folder names).")
_TEST_SUBSET = flags.DEFINE_integer(
    "test_subset", None, "Stratified test subset size (default: the first run's).", lower_bound=1)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Data folder (default: the first run's).")
_CACHE_DIR = flags.DEFINE_string("cache_dir", None, "Image-folder cache (default: the run's).")
_MASK_THRESHOLD = flags.DEFINE_float(
    "mask_threshold", 0.5, "Mask filters with G[c, k] above this.", lower_bound=0, upper_bound=1)
_MASK_CLASSES = flags.DEFINE_multi_string(
    "mask_classes", ["0", "0,5"], "Comma-separated class ids masked together (Fig. 5); repeat.")
_M = flags.DEFINE_integer("m", 6, "Dominant filters per class for C_IC (ResNet20 6, AlexNet 25).",
                          lower_bound=1)
_FILTER_THRESHOLD = flags.DEFINE_float(
    "filter_threshold", 0.5, "h for counting the filters each class monopolises.",
    lower_bound=0, upper_bound=1)
_PHI_STEPS = flags.DEFINE_integer("phi_steps", 500, "Adam steps of Φ.", lower_bound=1)
_PHI_LR = flags.DEFINE_float("phi_learning_rate", 0.1, "Adam learning rate of Φ.", lower_bound=0)
_PHI_COEF = flags.DEFINE_float("phi_coefficient", 0.01, "a of Φ (raw units), same for all runs.",
                               lower_bound=0)
_PHI_DENSITY = flags.DEFINE_float(
    "phi_density_target", None, "s/(C*K) of Φ, same for all runs (default min(1, 1.5/C)).",
    lower_bound=0, upper_bound=1)
_MIS_MAX = flags.DEFINE_integer(
    "mis_max_examples", 5000, "MIS on a seeded subset of this many test images (0: all).",
    lower_bound=0)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of MIS, k-means and subsampling.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 256, "Inference batch size.", lower_bound=1)

# Flags written into the report's command line as given; run folders, --out and data
# locations are replaced by placeholders (the report must not name a machine's paths).
def _parse_class_sets(values):
    sets = []
    for value in values:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not parts or not all(p.isdigit() for p in parts):
            raise app.UsageError(f"--mask_classes={value!r}: expected class ids like '0' or '0,5'")
        sets.append(tuple(int(p) for p in parts))
    return tuple(sets)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from lsg_tf.cli.console import quiet_logs

    quiet_logs()
    class_sets = _parse_class_sets(_MASK_CLASSES.value)
    from lsg_tf import run_io

    try:
        # The folders written are checked before any analysis.
        run_io.check_writable_folder(_OUT.value, "--out")
        if _CACHE_DIR.value:
            run_io.check_writable_folder(_CACHE_DIR.value, "--cache_dir")
        from lsg_tf.analysis import report_lib  # TensorFlow after the checks: fast errors

        options = report_lib.ReportOptions(
            phi_coefficient=_PHI_COEF.value, phi_density_target=_PHI_DENSITY.value,
            phi_steps=_PHI_STEPS.value, phi_learning_rate=_PHI_LR.value,
            mask_threshold=_MASK_THRESHOLD.value, mask_classes=class_sets,
            m=_M.value, filter_threshold=_FILTER_THRESHOLD.value,
            mis_max_examples=_MIS_MAX.value or None, seed=_SEED.value,
            batch_size=_BATCH_SIZE.value)
        report = report_lib.analyse_runs(
            _RUN.value, names=_NAMES.value, options=options, test_subset=_TEST_SUBSET.value,
            data_dir=_DATA_DIR.value, cache_dir=_CACHE_DIR.value)
        paths = report_lib.write_report(report, _OUT.value,
                                        commands.typed_command("lsg_tf.report", sys.argv))
    except (run_io.RunIOError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
    for run in report.runs:
        t = run.table1
        print(f"{run.name:>12}: accuracy {t.accuracy:.4f}  CE {t.cross_entropy:.4f}  "
              f"L1 {t.l1_norm:.4f}  Φ {t.phi:.4f}  C_IC {run.c_ic:.4f}  "
              f"Φ/inference {run.timing['phi_to_inference_ratio']:.2f}")
    print(f"report -> {paths['report']}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["run", "out"])
    entry.run(main)
