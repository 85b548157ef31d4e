"""LSG − STD differences of the side-by-side report with 95% intervals (Table 1, Fig. 5).

Both runs of a comparison are evaluated on the same test images, so the uncertainty of a
difference is that of the test sample: a paired bootstrap over images
(:func:`lsg_tf.reporting.stats.paired_bootstrap`). :func:`comparisons` reads the per-image values
that :func:`lsg_tf.analysis.report_lib.analyse_model` keeps on each run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lsg_tf.reporting import stats

# The per-image arrays a run needs (fields of report_lib.RunAnalysis).
PER_IMAGE_FIELDS = ("correct", "masked_own", "masked_others", "phi_per_image")

# The LSG − STD comparisons with a paired bootstrap over test images:
# metric -> the paper's claim about LSG − STD.
COMPARISON_METRICS = {
    "accuracy": "higher",  # Table 1 (LSG loses no accuracy)
    "phi": "lower",  # Table 1
    "masked_class_recall": "lower",  # Fig. 5
    "other_classes_recall": "higher",  # Fig. 5 (the other classes keep their recall)
}


def std_run(runs: Sequence) -> object | None:
    """The baseline of the comparisons: the first run with scheme "std" (None if none)."""
    return next((r for r in runs if r.scheme == "std"), None)


def _per_image_values(run, metric: str, labels: np.ndarray) -> np.ndarray:
    """The values whose mean over test images is the metric (see :func:`comparisons`)."""
    if metric == "accuracy":
        return np.asarray(run.correct, dtype=np.float64)
    if metric == "phi":
        return np.asarray(run.phi_per_image, dtype=np.float64)
    values = run.masked_own if metric == "masked_class_recall" else run.masked_others
    return np.asarray(values, dtype=np.float64) * _class_weights(labels)


def _class_weights(labels: np.ndarray) -> np.ndarray:
    """``N / (C n_y)`` per image (C: classes present): 1 on a balanced test set; otherwise
    the weighted mean of a per-image outcome is the unweighted mean over classes."""
    labels = np.asarray(labels)
    counts = np.bincount(labels)
    return len(labels) / (np.count_nonzero(counts) * counts[labels])


def comparisons(report) -> list:
    """Every gated run of a :class:`~lsg_tf.analysis.report_lib.Report` against the STD run,
    with a paired bootstrap interval of LSG − STD.

    Both runs are evaluated on the same test images, so each resample draws images with
    replacement and keeps the two runs' values of an image together
    (:func:`lsg_tf.reporting.stats.paired_bootstrap`, ``report.options.bootstrap_resamples``
    resamples, seed ``bootstrap_seed``). Per-image values (means over images = the reported
    metric):

    * ``accuracy`` (Table 1): 1 if the image is classified correctly.
    * ``phi`` (Table 1): cross-entropy of the gated logits at the run's Φ gate plus the
      sparsity term. The gate is held at its fit; by the envelope theorem the sampling error
      of a minimum is, to first order, that of the objective at the minimiser.
    * ``masked_class_recall`` / ``other_classes_recall`` (Fig. 5): ``own`` / ``others`` of
      :func:`lsg_tf.analysis.masking.per_image_masking`, weighted by ``N / (C n_y)`` (1 on a
      balanced test set) so their means are the class means of the masking sweep.

    The verdict is :func:`lsg_tf.reporting.stats.interval_verdict` against the paper's claim of
    :data:`COMPARISON_METRICS`. MIS, C_IC and the L1 density get no interval (see
    :mod:`lsg_tf.analysis.markdown`).

    Returns:
        The ``"comparisons"`` list of :func:`lsg_tf.analysis.report_lib.report_json`; empty
        without a run of scheme "std".

    Raises:
        ValueError: a run without per-image values, or runs on different numbers of images.
    """
    runs = report.runs
    std = std_run(runs)
    if std is None:
        return []
    labels = np.asarray(report.data.labels)
    options = report.options
    weights = _class_weights(labels)
    balanced = bool(np.all(weights == 1.0))
    out = []
    for run in runs:
        if not run.gate_trained or run is std:
            continue
        for metric, claim in COMPARISON_METRICS.items():
            lsg_values, std_values = (_checked_values(r, metric, labels) for r in (run, std))
            difference, low, high = stats.paired_bootstrap(
                lsg_values, std_values, resamples=options.bootstrap_resamples,
                seed=options.bootstrap_seed)
            method = (f"paired bootstrap over {len(labels)} test images, "
                      f"{options.bootstrap_resamples} resamples")
            if metric == "phi":
                method += ", Φ's gate held at each run's fit"
            elif metric != "accuracy" and not balanced:
                method += ", images weighted by N/(C·n_y) (class-mean recall)"
            out.append({"metric": metric, "run": run.name, "baseline": std.name,
                        "lsg": float(lsg_values.mean()), "std": float(std_values.mean()),
                        "difference": difference, "low": low, "high": high, "claim": claim,
                        "verdict": stats.interval_verdict(low, high, claim), "method": method})
    return out


def _checked_values(run, metric: str, labels: np.ndarray) -> np.ndarray:
    missing = [f for f in PER_IMAGE_FIELDS if getattr(run, f) is None]
    if missing:
        raise ValueError(f"run {run.name!r} has no per-image values ({', '.join(missing)}); "
                         "analyse it with report_lib.analyse_model")
    values = _per_image_values(run, metric, labels)
    if values.shape != labels.shape:
        raise ValueError(f"run {run.name!r} has {metric} values for {len(values)} images, "
                         f"the test data has {len(labels)}")
    return values
