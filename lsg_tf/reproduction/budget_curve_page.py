"""The budget curve's page: LSG − STD accuracy against training epochs, with intervals.

Reads what :mod:`lsg_tf.reproduction.budget_curve` tabulated (each point's seeds table and the
gap change between the shortest and the longest budget) and writes ``OUT/README.md``,
``OUT/curve.json`` and the figure ``OUT/gap.png``.
"""

from __future__ import annotations

import os

import numpy as np

from lsg_tf import run_io
from lsg_tf.core.gate import target_missed_line
from lsg_tf.reporting.formatting import MISSING
from lsg_tf.reporting.stats import format_mean_std
from lsg_tf.reproduction.experiments import LABELS, SEEDS_DIR

FIGURE = "gap.png"
CURVE_JSON = "curve.json"
_CHANGE_WORDS = {"reproduces": "LSG gains on STD", "does not reproduce": "LSG loses ground",
                 "inconclusive": "no change resolved"}


def curve_points(tables: dict, variants) -> list:
    """One record per (epochs, LSG variant): the gap to STD over seeds and over test images,
    and the gate's numbers; the rows of the page's table and of ``curve.json``."""
    rows = []
    for epochs, point in sorted(tables.items()):
        table = point["table"]
        for v in variants:
            if v == "std":
                continue
            t = table[v]
            seeds = t["seeds"]
            missed = [name for name, check in point.get("gate_target", {}).items()
                      if name.startswith(f"{v}-s") and check and not check["reached"]]
            rows.append({
                "epochs": epochs, "variant": v, "seeds": seeds,
                "accuracy": t["accuracy"], "std_accuracy": table["std"]["accuracy"],
                "gap_per_seed": t["accuracy_minus_std"]["per_seed"],
                "gap_t95": t["accuracy_minus_std"]["t95"],
                "gap_images": t.get("accuracy_minus_std_images"),
                "gate_density": t["gate_density"], "phi": t["phi"],
                "std_phi": table["std"]["phi"],
                "masked_recall_max": t["masked_recall_max"],
                "others_kept_min": t["others_kept_min"],
                "gate_target_missed": missed})
    return rows


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def _interval(pair, scale=100.0) -> str:
    low, high = pair
    if low is None or not np.isfinite(low):
        return MISSING
    return f"[{scale * low:+.2f}, {scale * high:+.2f}]"


def _table_lines(rows) -> list:
    lines = ["| epochs | run | seeds | accuracy (%) | STD accuracy (%) | LSG − STD per seed "
             "(points) | 95% t-interval over seeds | LSG − STD over test images (95% "
             "bootstrap) | the paper's claim LSG ≥ STD | gate density | Φ (STD Φ) | masked "
             "recall (max) | others keep (min, %) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        images = r["gap_images"]
        over_images = (f"{100 * images['difference']:+.2f} {_interval(images['bootstrap95'])}"
                       if images else MISSING)
        t95 = _interval(r["gap_t95"]) if len(r["seeds"]) > 1 else "no interval (one seed)"
        density = format_mean_std(r["gate_density"], 1.0, 3)
        if r["gate_target_missed"]:
            density += " (missed its target: " + ", ".join(r["gate_target_missed"]) + ")"
        lines.append(
            f"| {r['epochs']} | {LABELS.get(r['variant'], r['variant'])} | "
            f"{', '.join(map(str, r['seeds']))} | {format_mean_std(r['accuracy'])} | "
            f"{format_mean_std(r['std_accuracy'])} | "
            + ", ".join(f"{100 * v:+.2f}" for v in r["gap_per_seed"]) + f" | {t95} | "
            f"{over_images} | {images['verdict'] if images else MISSING} | {density} | "
            f"{format_mean_std(r['phi'], 1.0, 4)} ({format_mean_std(r['std_phi'], 1.0, 4)}) | "
            f"{format_mean_std(r['masked_recall_max'], 1.0, 2)} | "
            f"{format_mean_std(r['others_kept_min'], 100.0, 1)} |")
    return lines


def _change_lines(change: dict) -> list:
    if not change:
        return ["One epoch count, or no seed common to the shortest and the longest: no gap "
                "change to measure yet."]
    lines = [f"From {change['from_epochs']} to {change['to_epochs']} epochs (seeds "
             f"{', '.join(map(str, change['seeds']))}): per test image and seed, "
             "(LSG − STD at the longer budget) − (LSG − STD at the shorter), 2000 paired "
             "bootstrap resamples over those pairs.", "",
             "| run | gap change (points) | 95% bootstrap interval | pairs | reading |",
             "|---|---|---|---|---|"]
    for v, c in change["variants"].items():
        lines.append(f"| {LABELS.get(v, v)} | {100 * c['difference']:+.2f} | "
                     f"{_interval(c['bootstrap95'])} | {c['pairs']:,} | "
                     f"{_CHANGE_WORDS[c['verdict']]} |")
    lines += ["", "\"LSG gains on STD\" / \"LSG loses ground\" only when the interval excludes "
              "0; the interval measures which test images were drawn, not what other seeds "
              "would train."]
    return lines


def gap_figure(rows, path: str) -> None:
    """LSG − STD (points) against epochs, one line per LSG variant: the pooled gap with its
    bootstrap interval over test images, and each seed's gap as a dot."""
    from lsg_tf.core.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    variants = sorted({r["variant"] for r in rows})
    for i, v in enumerate(variants):
        mine = [r for r in rows if r["variant"] == v]
        x = np.array([r["epochs"] for r in mine], np.float64) * (1 + 0.02 * (i - 0.5))
        centre = [100 * (r["gap_images"]["difference"] if r["gap_images"]
                         else np.mean(r["gap_per_seed"])) for r in mine]
        line, = ax.plot(x, centre, "o-", label=LABELS.get(v, v))
        for xi, r in zip(x, mine):
            if r["gap_images"]:
                low, high = r["gap_images"]["bootstrap95"]
                ax.plot([xi, xi], [100 * low, 100 * high], color=line.get_color(), lw=2,
                        alpha=0.6)
            ax.scatter([xi] * len(r["gap_per_seed"]), 100 * np.asarray(r["gap_per_seed"]),
                       s=12, color=line.get_color(), alpha=0.5, marker="x")
    ax.axhline(0, color="grey", lw=1, ls="--")
    ax.set_xscale("log", base=2)
    epochs = sorted({r["epochs"] for r in rows})
    ax.set_xticks(epochs, [str(e) for e in epochs])
    ax.set_xlabel("training epochs")
    ax.set_ylabel("LSG − STD test accuracy (points)")
    ax.set_title("Accuracy gap against budget (bars: 95% bootstrap; x: seeds)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def write_page(out_dir: str, tables: dict, change: dict, variants, base, command: str,
               main_seed: int) -> str:
    """``OUT/README.md`` (the curve's table, the gap change and the figure), ``curve.json``
    and ``gap.png``; returns the page's path."""
    rows = curve_points(tables, variants)
    gap_figure(rows, os.path.join(out_dir, FIGURE))
    run_io.write_json(os.path.join(out_dir, CURVE_JSON),
                      {"points": rows, "gap_change": change, "command": command})
    missed = [f"- {_epochs(r['epochs'])}, {', '.join(r['gate_target_missed'])}: "
              + target_missed_line(tables[r["epochs"]]["gate_target"][r["gate_target_missed"][0]])
              for r in rows if r["gate_target_missed"]]
    lines = [
        "# Accuracy against training budget: STD, LSG-alternate, LSG-joint", "",
        f"Command: `{command}`", "",
        f"Every point trains each variant as {base.describe(attacks=False, epochs=False)}; "
        "only the number of epochs changes (the learning-rate schedule and the alternating "
        "schedule follow the run's length). Seed "
        f"{main_seed} trains at every point first; points list the seeds whose runs of every "
        "variant have finished. Each point's full seeds table (cross-entropy, MIS, C_IC, train "
        f"time) is in `e<epochs>/{SEEDS_DIR}/README.md`.", "",
        f"![LSG − STD test accuracy against training epochs]({FIGURE})", "",
        *_table_lines(rows), "",
        "The per-seed interval is a t-interval over the per-seed differences; the interval over "
        "test images pools each seed's (LSG, STD) pair of one image and resamples images: "
        "\"reproduces\" / \"does not reproduce\" only when it excludes 0.", "",
        "## How the gap moves with budget", "", *_change_lines(change), ""]
    if missed:
        lines += ["## Gates that missed their target", "",
                  "**These runs' gates ended above their density target; their class-specific "
                  "numbers do not describe a trained gate:**", "", *missed, ""]
    path = os.path.join(out_dir, "README.md")
    run_io.write_text(path, "\n".join(lines))
    return path
