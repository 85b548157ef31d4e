"""Uncertainty of the numbers we publish: spread over seeds and intervals of differences.

A verdict on "LSG − STD" is only as good as its spread: with a few seeds per recipe the
paired difference (same seed, same data order) has a sample standard deviation, and a
Student-t 95% interval of its mean says whether the difference is distinguishable from 0.
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
