"""STD vs LSG over seeds: per-variant numbers as mean ± std and the paired LSG − STD verdict.

Reads only the ``metrics.json`` contents of finished runs (accuracy, Φ, gate density and the
masking summary that :func:`lsg_tf.training.train_lib.train` records), so it never retrains
anything. With the runs' per-image correctness on the test set, it adds a paired bootstrap over test
images of the LSG − STD accuracy difference: with two or three seeds the spread over seeds
says little, the test images' sampling noise can still be measured.
"""

from __future__ import annotations

import numpy as np

from lsg_tf.reporting.formatting import MISSING
from lsg_tf.reporting.stats import (
    difference_verdict,
    format_mean_std,
    interval_verdict,
    mean_std,
    paired_bootstrap,
    t_interval,
)

BOOTSTRAP_RESAMPLES = 2000

# (key in the summary, column title, scale, digits)
_COLUMNS = (
    ("accuracy", "accuracy (%)", 100.0, 2),
    ("cross_entropy", "CE", 1.0, 3),
    ("gate_density", "gate density", 1.0, 3),
    ("phi", "Φ", 1.0, 4),
    ("masked_recall_max", "masked class recall (max over classes)", 1.0, 2),
    ("others_kept_min", "others keep (min over classes, %)", 100.0, 1),
    ("mis", "MIS", 1.0, 4),
    ("c_ic", "C_IC", 1.0, 4),
    ("wall_time_seconds", "train time (s)", 1.0, 0),
)


def run_numbers(metrics: dict) -> dict:
    """The table's numbers of one run's metrics."""
    split = metrics.get("evaluated_on", "test")
    masking = metrics.get("masking") or {}
    return {
        "accuracy": metrics[f"{split}/accuracy"],
        "cross_entropy": metrics[f"{split}/cross_entropy"],
        "gate_density": metrics["gate_density"],
        "phi": (metrics.get("phi") or {}).get("phi", float("nan")),
        "masked_recall_max": masking.get("max_recall_after", float("nan")),
        "others_kept_min": masking.get("min_others_kept", float("nan")),
        # Runs older than these numbers in metrics.json have none (NaN, shown as missing).
        "mis": (metrics.get("mis") or {}).get("mis", float("nan")),
        "c_ic": _number(metrics.get("c_ic")),
        "wall_time_seconds": metrics["wall_time_seconds"],
    }


def bootstrap_difference(correct: dict, name: str, seeds) -> dict:
    """LSG − STD accuracy over test images, pairs pooled over seeds, with a bootstrap interval.

    Args:
        correct: ``{(variant, seed): bool [N]}``, image i of one seed is the same image for
            every variant of that seed.
    """
    lsg = np.concatenate([np.asarray(correct[(name, s)], np.float64) for s in seeds])
    std = np.concatenate([np.asarray(correct[("std", s)], np.float64) for s in seeds])
    difference, low, high = paired_bootstrap(lsg, std, resamples=BOOTSTRAP_RESAMPLES)
    return {"difference": difference, "bootstrap95": [low, high], "pairs": int(lsg.size),
            "verdict": interval_verdict(low, high, "higher")}


def summary(results: dict, variants, seeds, correct: dict | None = None) -> dict:
    """``{variant: {number: [per seed]}}`` plus paired accuracy differences to ``std``.

    ``correct`` (optional, ``{(variant, seed): bool [N]}``) adds the bootstrap over images.
    """
    out = {}
    for name in variants:
        numbers = [run_numbers(results[(name, seed)]) for seed in seeds]
        out[name] = {key: [n[key] for n in numbers] for key in numbers[0]}
        out[name]["seeds"] = list(seeds)
        if "std" in variants and name != "std":
            diff = np.subtract(out[name]["accuracy"],
                               [results[("std", s)][_acc_key(results[("std", s)])]
                                for s in seeds])
            low, high = t_interval(diff)
            mean, std = mean_std(diff)
            out[name]["accuracy_minus_std"] = {
                "per_seed": diff.tolist(), "mean": mean, "std": std,
                "t95": [low, high], "verdict": difference_verdict(diff)}
            if correct is not None:
                out[name]["accuracy_minus_std_images"] = bootstrap_difference(
                    correct, name, seeds)
            for key, claim in SEED_CLAIMS.items():
                out[name][f"{key}_minus_std"] = seed_difference(
                    out[name][key], [run_numbers(results[("std", s)])[key] for s in seeds], claim)
    return out


# Numbers with one value per trained model, compared over seeds: (the paper's claim).
SEED_CLAIMS = {"mis": "higher", "c_ic": "lower"}


def seed_difference(lsg, std, claim: str) -> dict:
    """LSG − STD per seed, its 95% t-interval and the verdict on ``claim`` that the interval
    gives (``"inconclusive"`` with one seed or a missing value: no interval)."""
    diff = np.subtract(np.asarray(lsg, np.float64), np.asarray(std, np.float64))
    low, high = t_interval(diff) if np.isfinite(diff).all() else (float("nan"),) * 2
    return {"per_seed": diff.tolist(), "mean": float(np.mean(diff)), "t95": [low, high],
            "claim": claim, "verdict": interval_verdict(low, high, claim)}


def _number(value) -> float:
    return float("nan") if value is None else float(value)


def markdown(table: dict, variants, seeds, command: str, split: str = "test") -> str:
    """The command, the side-by-side table and the LSG − STD accuracy differences.

    Args:
        table: :func:`summary`'s result.
        split: which data the runs were scored on (``"test"`` or ``"validation"``).
    """
    return "\n".join([f"Command: `{command}`", ""] + body_lines(table, variants, seeds,
                                                               split)) + "\n"


def body_lines(table: dict, variants, seeds, split: str = "test") -> list:
    """:func:`markdown` without the command: the lines a results page embeds."""
    def values(name, key):  # tables written before a number existed lack it
        return np.asarray(table[name].get(key, [float("nan")]), np.float64)

    # MIS and C_IC only where some run has them (runs older than these numbers do not).
    columns = [c for c in _COLUMNS if c[0] not in SEED_CLAIMS
               or any(np.isfinite(values(n, c[0])).any() for n in variants)]
    lines = [f"{split.capitalize()} numbers over seeds {', '.join(map(str, seeds))}: mean ± "
             "sample standard deviation (one value when there is one seed).", "",
             "| run | " + " | ".join(c[1] for c in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for name in variants:
        cells = [format_mean_std(values(name, key), scale, digits)
                 if not np.isnan(values(name, key)).all() else MISSING
                 for key, _, scale, digits in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    diffs = [n for n in variants if "accuracy_minus_std" in table[n]]
    if diffs:
        lines += ["", "Accuracy difference to STD, paired by seed (points):", "",
                  "| run | per seed | mean ± std | 95% t-interval | verdict |",
                  "|---|---|---|---|---|"]
        for name in diffs:
            d = table[name]["accuracy_minus_std"]
            per_seed = ", ".join(f"{100 * v:+.2f}" for v in d["per_seed"])
            low, high = d["t95"]
            interval = MISSING if np.isnan(low) else f"[{100 * low:+.2f}, {100 * high:+.2f}]"
            verdict = {"within noise": "within noise", "higher": "LSG higher",
                       "lower": "LSG lower"}[d["verdict"]] if len(d["per_seed"]) > 1 else \
                "no verdict (one seed: no spread)"
            lines.append(f"| {name} | {per_seed} | {format_mean_std(d['per_seed'])} | "
                         f"{interval} | {verdict} |")
        lines += ["", "The verdict says higher or lower only when the mean difference exceeds "
                  "one standard deviation of the per-seed differences, \"within noise\" otherwise."]
        if any("accuracy_minus_std_images" in table[n] for n in diffs):
            lines += _bootstrap_lines(table, diffs)
        lines += _seed_claim_lines(table, diffs)
    lines += ["", "Φ uses the same a = 0.01 and s = 0.15·C·K for every model; masking zeroes the "
              "filters with G[c, k] > 0.5 (the trained gate of an LSG run, Φ's gate of an STD "
              "run) and reports class c's recall and the other classes' recall relative to "
              "unmasked. The STD run never trains its gate (density 1.0 by construction)."]
    return lines


def _seed_claim_lines(table: dict, diffs) -> list:
    """MIS and C_IC: one value per trained model, so their interval is over seeds."""
    rows = [(name, key) for key in SEED_CLAIMS for name in diffs
            if f"{key}_minus_std" in table[name]
            and np.isfinite(table[name][f"{key}_minus_std"]["per_seed"]).any()]
    if not rows:
        return []
    lines = ["", "MIS (appendix B; the paper: LSG higher) and C_IC (Table 2, m = 6; the paper: "
             "LSG lower) are one number per trained model, so their LSG − STD difference is "
             "paired by seed, with a 95% t-interval over the per-seed differences:", "",
             "| run | number | per seed | mean | 95% t-interval | verdict |",
             "|---|---|---|---|---|---|"]
    for name, key in rows:
        d = table[name][f"{key}_minus_std"]
        low, high = d["t95"]
        interval = MISSING if np.isnan(low) else f"[{low:+.4f}, {high:+.4f}]"
        verdict = d["verdict"] if not np.isnan(low) else \
            "no verdict (fewer than 2 seeds with the number: no interval)"
        per_seed = ", ".join(MISSING if np.isnan(v) else f"{v:+.4f}" for v in d["per_seed"])
        mean = MISSING if np.isnan(d["mean"]) else f"{d['mean']:+.4f}"
        lines.append(f"| {name} | {'MIS' if key == 'mis' else 'C_IC'} | {per_seed} | "
                     f"{mean} | {interval} | {verdict} |")
    return lines


def _bootstrap_lines(table: dict, diffs) -> list:
    lines = ["", "Accuracy difference to STD over test images (points): each seed's LSG and STD "
             "predictions of one image form a pair, pairs pooled over seeds, "
             f"{BOOTSTRAP_RESAMPLES} paired bootstrap resamples:", "",
             "| run | difference | 95% bootstrap interval | pairs | the paper's claim LSG ≥ STD |",
             "|---|---|---|---|---|"]
    for name in diffs:
        b = table[name]["accuracy_minus_std_images"]
        low, high = b["bootstrap95"]
        lines.append(f"| {name} | {100 * b['difference']:+.2f} | [{100 * low:+.2f}, "
                     f"{100 * high:+.2f}] | {b['pairs']:,} | {b['verdict']} |")
    lines += ["", "\"reproduces\" / \"does not reproduce\" only when the interval excludes 0 "
              "(above / below), \"inconclusive\" otherwise. The interval measures which test "
              "images were drawn, not what another seed would train."]
    return lines


def split_of(results: dict) -> str:
    """Which data a set of runs was scored on: ``"test"``, or ``"validation"`` when held out."""
    return next(iter(results.values())).get("evaluated_on", "test")


def _acc_key(metrics: dict) -> str:
    return f"{metrics.get('evaluated_on', 'test')}/accuracy"
