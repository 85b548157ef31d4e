"""LSG − STD differences of the adversarial evaluation with 95% intervals (Tables 4 and 5).

Every model is evaluated on the same images (:mod:`lsg_tf.robustness.evaluate`), so:

* clean accuracy: a paired bootstrap over the test images
  (:func:`lsg_tf.reporting.stats.paired_bootstrap`);
* detection AUC (Table 4): every repeat splits the pool the same way for every model, so the
  detector's test images (each with its PGD version) are shared; a bootstrap draws test
  images, keeps each with its PGD version, and recomputes the mean AUC over repeats of both
  models (:func:`auc_difference`);
* black-box success rates (Table 5): each model is attacked on the images *it* classifies
  correctly, so the rates come from different samples: Newcombe's hybrid score interval of a
  difference of two proportions (:func:`lsg_tf.reporting.stats.newcombe_difference`).

A verdict is "reproduces" only when the interval excludes 0 in the paper's direction
(:func:`lsg_tf.reporting.stats.interval_verdict`).
"""

from __future__ import annotations

import numpy as np

from lsg_tf.reporting import stats

RESAMPLES = 1000
SEED = 0
# The paper's direction of each LSG − STD difference.
# A baseline detector's difference is judged in the paper's detection direction.
CLAIMS = {"accuracy": "higher", "detection_auc": "higher", "detection_auc_baseline": "higher",
          "pixel": "lower", "local_search": "lower"}


def rank_auc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """ROC AUC of scores of negatives ``[n0]`` and positives ``[n1]`` (Mann-Whitney U with
    average ranks for ties), equal to scikit-learn's ``roc_auc_score``."""
    from scipy.stats import rankdata

    negatives, positives = np.asarray(negatives), np.asarray(positives)
    if not len(negatives) or not len(positives):
        raise ValueError("rank_auc needs at least one negative and one positive score")
    ranks = rankdata(np.concatenate([negatives, positives]))
    n1 = len(positives)
    return float((ranks[len(negatives):].sum() - n1 * (n1 + 1) / 2) / (len(negatives) * n1))


def _score_halves(*runs: list) -> int:
    """T, the test images per repeat, of score lists ``[2T]`` (T clean, then T PGD)."""
    sizes = {len(s) for scores in runs for s in scores}
    if len(sizes) != 1 or sizes.pop() % 2:
        raise ValueError("every repeat's scores must hold T clean then T adversarial scores, "
                         "the same T for both models")
    return len(runs[0][0]) // 2


class _ResampledAUC:
    """The AUC of one repeat's scores ``[2T]`` (T clean, then their T PGD versions) on a
    resample of its T test images, each kept with its PGD version: equal to
    :func:`rank_auc` of the resampled scores, in O(T) per resample.

    With ``w`` the multiplicity of each image in the resample, the AUC is
    ``sum_b w_b (#{a: clean_a < pgd_b} + #{a: clean_a = pgd_b} / 2) / T^2``, the counts
    weighted by ``w``; the clean scores are sorted once.
    """

    def __init__(self, scores: np.ndarray, half: int):
        clean, adversarial = scores[:half], scores[half:]
        self.half = half
        self.order = np.argsort(clean, kind="stable")
        ordered = clean[self.order]
        self.below = np.searchsorted(ordered, adversarial, "left")
        self.upto = np.searchsorted(ordered, adversarial, "right")

    def __call__(self, index: np.ndarray) -> float:
        weight = np.bincount(index, minlength=self.half).astype(np.float64)
        cumulative = np.r_[0.0, np.cumsum(weight[self.order])]
        count = (cumulative[self.below] + cumulative[self.upto]) / 2
        return float(weight @ count / len(index) ** 2)


def _mean_auc(aucs: list, index: np.ndarray) -> float:
    return float(np.mean([auc(index) for auc in aucs]))


def auc_difference(scores_a: list, scores_b: list, resamples: int = RESAMPLES,
                   seed: int = SEED) -> tuple[float, float, float]:
    """Mean-over-repeats AUC of model a minus model b, with a paired bootstrap interval.

    Args:
        scores_a, scores_b: per repeat, the detector's scores ``[2T]`` on the repeat's T test
            images followed by their T PGD versions (the same images for both models).

    Returns:
        ``(difference, low, high)``.
    """
    if len(scores_a) != len(scores_b) or not scores_a:
        raise ValueError(f"need one score array per repeat for both models, got "
                         f"{len(scores_a)} and {len(scores_b)}")
    a = [np.asarray(s, np.float64) for s in scores_a]
    b = [np.asarray(s, np.float64) for s in scores_b]
    half = _score_halves(a, b)
    a, b = [_ResampledAUC(s, half) for s in a], [_ResampledAUC(s, half) for s in b]
    return stats.bootstrap_interval(lambda i: _mean_auc(a, i) - _mean_auc(b, i), half,
                                    resamples=resamples, seed=seed)


def auc_interval(scores: list, resamples: int = RESAMPLES,
                 seed: int = SEED) -> tuple[float, float, float]:
    """One model's mean-over-repeats AUC with the bootstrap of :func:`auc_difference` (test
    images drawn, each kept with its PGD version): ``(mean AUC, low, high)``."""
    if not len(scores):
        raise ValueError("need one score array per repeat, got none")
    scores = [np.asarray(s, np.float64) for s in scores]
    half = _score_halves(scores)
    aucs = [_ResampledAUC(s, half) for s in scores]
    return stats.bootstrap_interval(lambda i: _mean_auc(aucs, i), half, resamples=resamples,
                                    seed=seed)


def _record(metric, run, baseline, lsg_value, std_value, interval, method, **extra):
    difference, low, high = interval
    claim = CLAIMS[metric]
    return {"metric": metric, **extra, "run": run["name"], "baseline": baseline["name"],
            "lsg": lsg_value, "std": std_value, "difference": difference, "low": low,
            "high": high, "claim": claim, "verdict": stats.interval_verdict(low, high, claim),
            "method": method}


def _auc_records(metric, run, baseline, entry, scores_a, scores_b, lsg_auc, std_auc,
                 resamples, **extra) -> list[dict]:
    """LSG − STD of one detector's mean AUC at one ε (``entry``), per training size."""
    out = []
    for size in entry["detection"]["train_per_class"]:
        interval = auc_difference(scores_a[size], scores_b[size], resamples)
        half = len(scores_a[size][0]) // 2
        out.append(_record(
            metric, run, baseline, lsg_auc[size], std_auc[size], interval,
            f"paired bootstrap over {half} detector test images (each with its PGD "
            f"version), mean AUC over {len(scores_a[size])} repeats, {resamples} "
            f"resamples", eps=entry["eps"], train_per_class=int(size), **extra))
    return out


def comparisons(results: dict, resamples: int = RESAMPLES) -> list[dict]:
    """Every gated run against the first STD run, each difference with its 95% interval.

    Reads the per-image arrays of :func:`lsg_tf.robustness.evaluate.evaluate_runs`' results
    (``run["arrays"]``). Returns a list of dicts ``{"metric", ["eps", "train_per_class"],
    "run", "baseline", "lsg", "std", "difference", "low", "high", "claim", "verdict",
    "method"}``; ``metric`` is "accuracy", "detection_auc" (the random forest),
    "detection_auc_baseline" (with ``"detector"``: a baseline's name), "pixel" or
    "local_search" (values as fractions). Empty without an STD run or a gated run.
    """
    runs = results["runs"]
    baseline = next((r for r in runs if r["scheme"] == "std"), None)
    if baseline is None:
        return []
    out = []
    for run in runs:
        if run["scheme"] == "std":
            continue
        correct_a, correct_b = run["arrays"]["correct"], baseline["arrays"]["correct"]
        out.append(_record(
            "accuracy", run, baseline, run["clean_accuracy"], baseline["clean_accuracy"],
            stats.paired_bootstrap(correct_a, correct_b, resamples=max(resamples, 100),
                                   seed=SEED),
            f"paired bootstrap over {len(correct_a)} test images, {resamples} resamples"))
        for k, (entry, base) in enumerate(zip(run.get("sweep", []), baseline.get("sweep", []))):
            if "detection" not in entry:
                continue
            det, base_det = entry["detection"], base["detection"]
            out += _auc_records("detection_auc", run, baseline, entry,
                                run["arrays"]["detection_scores"][k],
                                baseline["arrays"]["detection_scores"][k], det["mean_auc"],
                                base_det["mean_auc"], resamples)
            for name, detected in det.get("detectors", {}).items():
                if name == "random_forest" or name not in base_det.get("detectors", {}):
                    continue
                out += _auc_records("detection_auc_baseline", run, baseline, entry,
                                    run["arrays"]["detector_scores"][k][name],
                                    baseline["arrays"]["detector_scores"][k][name],
                                    detected["mean_auc"],
                                    base_det["detectors"][name]["mean_auc"], resamples,
                                    detector=name)
        for attack in ("pixel", "local_search"):
            if attack not in run or attack not in baseline:
                continue
            a, b = run[attack], baseline[attack]
            if not a["attempts"] or not b["attempts"]:
                continue
            interval = stats.newcombe_difference(a["successes"], a["attempts"],
                                                 b["successes"], b["attempts"])
            out.append(_record(
                attack, run, baseline, a["successes"] / a["attempts"],
                b["successes"] / b["attempts"], interval,
                f"Newcombe hybrid score interval, {a['attempts']} and {b['attempts']} "
                f"correctly classified images"))
    return out
