"""Uncertainty of the numbers we publish: spread over seeds and intervals of differences.

A verdict on "LSG − STD" is only as good as its spread: with a few seeds per recipe the
paired difference (same seed, same data order) has a sample standard deviation, and a
Student-t 95% interval of its mean says whether the difference is distinguishable from 0.
With one run per model, the uncertainty comes from the test images instead: a paired
bootstrap over images (accuracy, recall, IoU: the same images for both models) or Wilson and
Newcombe score intervals for success rates measured on different images.
"""

from __future__ import annotations

import math

import numpy as np


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; 0 for a single value)."""
    values = np.asarray(list(values), dtype=np.float64)
    if values.size == 0:
        raise ValueError("mean_std needs at least one value")
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), std


def format_mean_std(values, scale: float = 100.0, digits: int = 2) -> str:
    """``"m ± s"`` of ``values * scale`` (``"m"`` alone for one value)."""
    values = np.asarray(list(values), dtype=np.float64) * scale
    mean, std = mean_std(values)
    return f"{mean:.{digits}f}" if values.size == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def t_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of ``values`` (NaNs for fewer than 2 values)."""
    from scipy import stats as scipy_stats

    values = np.asarray(list(values), dtype=np.float64)
    if values.size < 2:
        return math.nan, math.nan
    mean, std = mean_std(values)
    half = scipy_stats.t.ppf(0.5 + confidence / 2, values.size - 1) * std / math.sqrt(values.size)
    return mean - half, mean + half


def difference_verdict(differences) -> str:
    """``"higher"`` / ``"lower"`` when the mean paired difference exceeds its spread (one
    sample std) in that direction, ``"within noise"`` otherwise (also for a single pair)."""
    mean, std = mean_std(differences)
    if len(list(differences)) < 2 or abs(mean) <= std:
        return "within noise"
    return "higher" if mean > 0 else "lower"


def _z(confidence: float) -> float:
    from scipy import stats as scipy_stats

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return float(scipy_stats.norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes: int, trials: int, confidence: float = 0.95):
    """Wilson score interval of a proportion ``successes / trials`` (Wilson 1927).

    ``(p + z²/2n ± z √(p(1−p)/n + z²/4n²)) / (1 + z²/n)``; stays inside [0, 1] and is
    sensible at 0 or ``trials`` successes, unlike the normal approximation.
    """
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"wilson_interval needs 0 <= successes <= trials and trials >= 1, "
                         f"got {successes}/{trials}")
    z, n, p = _z(confidence), float(trials), successes / trials
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def newcombe_difference(successes_a: int, trials_a: int, successes_b: int, trials_b: int,
                        confidence: float = 0.95):
    """``p_a − p_b`` and its Newcombe hybrid score interval (Newcombe 1998, method 10).

    For two proportions measured on different samples (e.g. attack success on each model's
    own correctly classified images), built from the two Wilson intervals.
    """
    p_a, p_b = successes_a / trials_a, successes_b / trials_b
    low_a, high_a = wilson_interval(successes_a, trials_a, confidence)
    low_b, high_b = wilson_interval(successes_b, trials_b, confidence)
    difference = p_a - p_b
    low = difference - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = difference + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return difference, low, high


def paired_bootstrap(values_a, values_b, statistic=np.mean, resamples: int = 2000,
                     confidence: float = 0.95, seed: int = 0):
    """``statistic(a) − statistic(b)`` and its percentile bootstrap interval.

    ``values_a[i]`` and ``values_b[i]`` belong to the same test image (e.g. 1/0 correct, or
    an IoU); each resample draws images with replacement and keeps the pairs together, so
    what both models get right or wrong alike does not widen the interval.
    """
    a = np.asarray(values_a, dtype=np.float64)
    b = np.asarray(values_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ValueError(f"paired_bootstrap needs two 1-D arrays of one length >= 2, got "
                         f"shapes {a.shape} and {b.shape}")
    if resamples < 100:
        raise ValueError(f"resamples must be >= 100, got {resamples}")
    rng = np.random.default_rng(seed)
    # One resample's indices at a time: resamples x N indices at once would hold
    # 2000 x 20,000 int64 (320 MB) for a 20k-image test set.
    draws = np.empty(resamples)
    for r in range(resamples):
        i = rng.integers(0, a.size, size=a.size)
        draws[r] = statistic(a[i]) - statistic(b[i])
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(statistic(a) - statistic(b)), float(low), float(high)


VERDICTS = ("reproduces", "does not reproduce", "inconclusive")


def interval_verdict(low: float, high: float, claim: str = "higher") -> str:
    """The verdict on a directional claim about a difference (LSG − STD) from its interval.

    ``claim="higher"`` (the paper says LSG's value is larger): "reproduces" when the whole
    interval is above 0, "does not reproduce" when it is below 0, "inconclusive" when it
    contains 0 (or is undefined). ``claim="lower"`` mirrors it.
    """
    if claim not in ("higher", "lower"):
        raise ValueError(f"claim must be 'higher' or 'lower', got {claim!r}")
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 <= high:
        return "inconclusive"
    above = low > 0
    return "reproduces" if above == (claim == "higher") else "does not reproduce"


def bootstrap_interval(statistic, size: int, resamples: int = 1000, confidence: float = 0.95,
                       seed: int = 0):
    """``statistic(all items)`` and its percentile bootstrap interval over ``size`` items.

    ``statistic`` maps an int index array (items drawn with replacement) to a number; it is
    called once on ``arange(size)`` and once per resample. For statistics that are not a
    mean of per-item values, e.g. an AUC difference over image pairs.
    """
    if int(size) != size or size < 2:
        raise ValueError(f"bootstrap_interval needs size >= 2 items, got {size!r}")
    if resamples < 100:
        raise ValueError(f"resamples must be >= 100, got {resamples}")
    rng = np.random.default_rng(seed)
    draws = np.array([statistic(rng.integers(0, size, size=size)) for _ in range(resamples)],
                     dtype=np.float64)
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(draws, [tail, 100 - tail])
    return float(statistic(np.arange(size))), float(low), float(high)


def find_comparison(comparisons, metric: str, run: str, **keys) -> dict | None:
    """The comparison record of ``metric`` for ``run`` whose other fields match ``keys``."""
    for c in comparisons or ():
        if c["metric"] == metric and c["run"] == run and all(
                c.get(k) == v for k, v in keys.items()):
            return c
    return None
