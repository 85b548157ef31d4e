"""What every section of the results page is made of: the page's data, its claims, table rows.

:class:`Page` holds the variants and the stages' JSON and records each claim a section checks
(for the summary at the top); :func:`row` and :func:`header` write Markdown table lines beside
the paper's numbers (:data:`PAPER`).
"""

from __future__ import annotations

import os

import numpy as np

from lsg_tf import run_io
from lsg_tf.reporting import paper, stats
from lsg_tf.reporting.formatting import fmt, signed_interval
from lsg_tf.reproduction.experiments import LABELS


def _std_lsg(table: dict, key: str) -> tuple:
    return table[paper.STD][key], table[paper.LSG][key]


# The paper's (STD, LSG) columns of each row: CIFAR-10 ResNet20 (Tables 1, 2, 4, 5) and
# PASCAL VOC ResNet152 totals (Table 3; a different data set and network, shown for the
# direction of the claim).
PAPER = {
    "accuracy": _std_lsg(paper.TABLE1, "accuracy"),
    "cross_entropy": _std_lsg(paper.TABLE1, "cross_entropy"),
    "density": _std_lsg(paper.TABLE1, "l1_norm"),
    "phi": _std_lsg(paper.TABLE1, "phi"),
    "c_ic": tuple(paper.TABLE2_C_IC["ResNet20"][model] for model in (paper.STD, paper.LSG)),
    "detection": dict(zip(paper.TABLE4_SIZES,
                          zip(paper.TABLE4_AUC[paper.STD], paper.TABLE4_AUC[paper.LSG]))),
    "clean_accuracy": _std_lsg(paper.TABLE5, "clean_accuracy"),
    "pixel": _std_lsg(paper.TABLE5, "pixel"),
    "local_search": _std_lsg(paper.TABLE5, "local_search"),
    **{key: _std_lsg(paper.TABLE3, key)
       for key in ("one_filter_iou", "one_filter_ap", "cam_iou", "cam_ap")},
}


# How a difference of each compared metric is shown: (scale, decimals); fractions in points.
SHOWN = {"accuracy": (100, 2), "masked_class_recall": (100, 2),
          "other_classes_recall": (100, 2), "detection_auc": (100, 2), "pixel": (100, 1),
          "local_search": (100, 1), "mis": (1, 4), "one_filter_avg_iou": (1, 3),
          "one_filter_ap": (1, 3), "cam_avg_iou": (1, 3), "cam_ap": (1, 3)}


NO_INTERVAL = "no verdict (no interval)"


def interval_text(comparison: dict) -> str:
    """``"verdict (+d [low, high])"`` of a comparison, ``does not reproduce`` in bold."""
    scale, digits = SHOWN.get(comparison["metric"], (1, 4))
    verdict = comparison["verdict"]
    verdict = f"**{verdict}**" if verdict == "does not reproduce" else verdict
    return f"{verdict} ({signed_interval(comparison, scale, digits)})"


def read(out_dir, *parts):
    path = os.path.join(out_dir, *parts)
    return run_io.read_json(path) if os.path.exists(path) else None


def row(label, values, paper_values=None, digits=4, verdicts=None):
    cells = [label] + [fmt(v, digits) if not isinstance(v, str) else v for v in values]
    cells += [fmt(p, digits) for p in (paper_values or (None, None))]
    if verdicts is not None:
        cells.append(verdicts)
    return "| " + " | ".join(cells) + " |"


def header(first, names, verdict=True):
    cells = [first] + names + ["paper STD", "paper LSG"] + (["LSG vs STD here"] if verdict else [])
    return "| " + " | ".join(cells) + " |\n|" + "---|" * len(cells)


class Page:
    """What the sections read (the variants, their labels, the stages' JSON) and the claims
    they check, collected for the summary at the top."""

    def __init__(self, names, report: dict, attacks: dict | None,
                 localization: dict | None):
        self.names = names
        # Each stage's LSG − STD differences with their 95% intervals.
        self.comparisons = {"report": report.get("comparisons", []),
                            "attack_eval": (attacks or {}).get("comparisons", []),
                            "localization": (localization or {}).get("comparisons", [])}
        self.lsg = [n for n in names if n != "std"]
        self.labels = [LABELS.get(n, n) for n in names]
        self.report, self.attacks, self.localization = report, attacks, localization
        self.runs = {r["name"]: r for r in report["runs"]}
        self.attack_runs = {r["name"]: r for r in (attacks or {}).get("runs", [])}
        self.claims = []  # (claim, {run: verdict}) for the summary
        self.before = None  # the previous page's report.json (BEFORE_DIR), if any
        self.seed_table = None  # the seeds stage's table (several seeds only)

    def comparison(self, stage: str, metric: str, run: str, **keys) -> dict | None:
        """The stage's LSG − STD comparison of ``metric`` for ``run`` (and ``keys``).

        ``stage="seeds"``: the t-interval over seeds of a number with one value per trained
        model (MIS, C_IC: :func:`lsg_tf.reproduction.scheme_table.seed_difference`), None
        below two seeds with the number.
        """
        if stage == "seeds":
            found = (self.seed_table or {}).get(run, {}).get(f"{metric}_minus_std")
            if not found or not np.isfinite(found["t95"]).all():
                return None
            low, high = found["t95"]
            return {"metric": metric, "verdict": found["verdict"],
                    "difference": found["mean"], "low": low, "high": high}
        return stats.find_comparison(self.comparisons[stage], metric, run, **keys)

    def check(self, text, values, stage=None, metric=None, digits=3, **keys):
        """The verdict cell of a table row; also records the claim for the summary.

        A verdict needs the interval of the difference (``stage``'s comparison of
        ``metric``); without one the cell says so and gives the two values.
        """
        cells = {}
        for n in self.lsg:
            if n not in values:
                continue
            found = self.comparison(stage, metric, n, **keys) if stage else None
            cells[n] = interval_text(found) if found else (
                f"{NO_INTERVAL} ({fmt(values[n], digits)} vs {fmt(values.get('std'), digits)})")
        self.claims.append((text, cells))
        return "; ".join(f"{n}: {v}" for n, v in cells.items())


NOTES_HEADING = "## Notes on this run"


def kept_notes(path: str) -> str:
    """The hand-written section :data:`NOTES_HEADING` (and what follows it) of the page being
    replaced, so that rewriting the page keeps the commentary written after the run."""
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as f:
        old = f.read()
    start = old.find("\n" + NOTES_HEADING + "\n")
    return "" if start < 0 else "\n" + old[start:].rstrip("\n").lstrip("\n") + "\n"
