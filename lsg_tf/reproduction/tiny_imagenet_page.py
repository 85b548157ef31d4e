"""The page of Table 3 on Tiny ImageNet animals: both settings beside the paper's Table 3.

:func:`write_page` reads the box-localization documents of each setting
(:func:`~lsg_tf.analysis.box_localization_report.box_localization_report`) and writes
``README.md``: the setting sentence, Table 3 in the paper's shape (means over seeds), the
verdict of every LSG − STD cell (paired bootstrap over images, pooled over seeds), LSG's CAM
against STD's Grad-CAM, and the classes where LSG localizes worse, with the figures.
"""

from __future__ import annotations

import os

import numpy as np

from lsg_tf import run_io
from lsg_tf.reporting import paper
from lsg_tf.reporting.formatting import fmt, signed_interval
from lsg_tf.reproduction.experiments import LABELS
from lsg_tf.reproduction.page_parts import kept_notes

PAGE_FILE = "README.md"
TINY_DIR = "tiny-imagenet"  # the folder of this page beside the main results page
RESULTS_FILE = "tiny_imagenet.json"  # written by lsg_tf.reproduction.tiny_imagenet
PAPER_VARIANT, CSG_VARIANT = "top20_ap15", "top30_ap30"
_COLUMNS = (  # (variant, metric, header, paper key)
    (PAPER_VARIANT, "one_filter_avg_iou", "1-filter Avg-IoU", "one_filter_iou"),
    (PAPER_VARIANT, "one_filter_ap", "1-filter AP15", "one_filter_ap"),
    (PAPER_VARIANT, "cam_avg_iou", "CAM Avg-IoU", "cam_iou"),
    (PAPER_VARIANT, "cam_ap", "CAM AP15", "cam_ap"),
    (CSG_VARIANT, "cam_ap", "CAM AP30 (CSG)", None),
    (None, "pointing", "pointing game", None),
)
_SETTING_TITLES = {"scratch": "Setting A: from scratch at 64x64",
                   "finetune": "Setting B: ImageNet EfficientNet-Lite0, top two blocks fine-tuned"}


def _mean(document, run, variant, metric):
    values = [t[metric] for t in document["totals"] if t["run"] == run
              and (variant is None or t["variant"] == variant) and metric in t]
    return float(np.mean(values)) if values else None


def _verdict(document, run, variant, metric, baseline="std"):
    seeds = [c for c in document["comparisons"] if c["run"] == run and c["metric"] == metric
             and c["baseline"] == baseline and c["variant"] == variant]
    pooled = [c for c in seeds if c["seed"] == "pooled"] or seeds
    if not pooled:
        return "—"
    c = pooled[0]
    verdict = f"**{c['verdict']}**" if c["verdict"] == "does not reproduce" else c["verdict"]
    return f"{verdict} ({signed_interval(c, 1, 3)})"


def setting_section(name: str, document: dict, prefix: str = "") -> list:
    """The Markdown lines of one setting; ``prefix``: the folder of this page relative to the
    page the lines go in (links)."""
    runs = document["runs"]
    lsg = [r for r in dict.fromkeys(r["name"] for r in runs) if r != "std"]
    seeds = sorted({r["seed"] for r in runs})
    first = runs[0]
    accuracy = {n: np.mean([r["test_accuracy"] for r in runs if r["name"] == n])
                for n in dict.fromkeys(r["name"] for r in runs)}
    density = {n: np.mean([r["gate_density"] for r in runs if r["name"] == n])
               for n in accuracy}
    lines = [f"## {_SETTING_TITLES.get(name, name)}", "",
             f"{first['model']}, {first['epochs']} epochs, seeds {', '.join(map(str, seeds))}; "
             f"{document['data']['num_images']} test images of "
             f"{len(document['data']['classes'])} classes with one box each. Test accuracy "
             + ", ".join(f"{LABELS.get(n, n)} {100 * a:.2f}%" for n, a in accuracy.items())
             + "; gate density " + ", ".join(f"{LABELS.get(n, n)} {d:.3f}"
                                            for n, d in density.items() if n != "std") + ".",
             "",
             "| model | " + " | ".join(c[2] for c in _COLUMNS) + " |",
             "|---|" + "---|" * len(_COLUMNS)]
    for run, label in [("std", "STD"), *[(n, LABELS.get(n, n)) for n in lsg],
                       ("std_grad_cam", "STD Grad-CAM"),
                       ("centre_prior", "centre prior (no model)")]:
        cells = []
        for variant, metric, _, _ in _COLUMNS:
            if run in ("std_grad_cam", "centre_prior") and metric.startswith("one_filter"):
                cells.append("—")
            else:
                cells.append(fmt(_mean(document, run, variant, metric), 3))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for model, label in ((paper.STD, "paper STD (VOC, ResNet152)"),
                         (paper.LSG, "paper LSG (VOC, ResNet152)")):
        lines.append(f"| {label} | " + " | ".join(
            fmt(paper.TABLE3[model][key], 3) if key else "—" for *_, key in _COLUMNS) + " |")
    prior = _mean(document, "centre_prior", CSG_VARIANT, "pointing")
    if prior is not None:
        lines += ["", f"The centre prior ignores the image: a Gaussian blob at the centre, "
                  f"segmented like a CAM; its maximum, the centre pixel, lies in the box of "
                  f"{100 * prior:.0f}% of the test images. Where a model's CAM scores below it, "
                  "the boxes (large and centred) rather than the maps decide that number; the "
                  "LSG − STD comparison on the same images stays decidable."]
    lines += ["", "LSG − STD, paired bootstrap over images"
              + (f", pooled over {len(seeds)} seeds" if len(seeds) > 1 else "")
              + " (claim: LSG higher):", "",
              "| LSG run | " + " | ".join(c[2] for c in _COLUMNS) + " |",
              "|---|" + "---|" * len(_COLUMNS)]
    for run in lsg:
        lines.append(f"| {LABELS.get(run, run)} vs STD | " + " | ".join(
            _verdict(document, run, v, m) for v, m, _, _ in _COLUMNS) + " |")
        lines.append(f"| {LABELS.get(run, run)} CAM vs STD Grad-CAM | " + " | ".join(
            "—" if m.startswith("one_filter") else _verdict(document, run, v, m, "std_grad_cam")
            for v, m, _, _ in _COLUMNS) + " |")
    lines += ["", *_per_class(document, lsg), "",
              f"![{name}]({prefix}{name}/box_localization.png)", "",
              f"Every number, per seed: [{prefix}{name}/box_localization.md]"
              f"({prefix}{name}/box_localization.md).", ""]
    return lines


def _per_class(document, lsg) -> list:
    """Classes ordered by LSG − STD CAM Avg-IoU (CSG variant, mean over seeds)."""
    per = document["per_class_cam"]
    variant = 1 if len(next(iter(per.values()))) > 1 else 0

    def mean_of(run):
        keys = [k for k in per if k.rsplit(" seed ", 1)[0] == run]
        classes = per[keys[0]][variant].keys()
        return {c: float(np.mean([per[k][variant][c] for k in keys])) for c in classes}

    std = mean_of("std")
    lines = []
    for run in lsg:
        diff = sorted(((v - std[c], c) for c, v in mean_of(run).items()))
        worse = [f"{c} ({d:+.3f})" for d, c in diff if d < 0]
        lines.append(f"{LABELS.get(run, run)}: CAM Avg-IoU (top 30%) below STD's in "
                     f"{len(worse)} of {len(diff)} classes"
                     + (f": {', '.join(worse[:8])}{', ...' if len(worse) > 8 else ''}"
                        if worse else "") + f"; best: {diff[-1][1]} ({diff[-1][0]:+.3f}).")
        lines.append("")
    return lines


def write_page(out_dir: str, documents: dict, command: str) -> str:
    """Writes ``out_dir/README.md`` from each setting's box-localization document."""
    text = ["# Table 3 on Tiny ImageNet animals (paper section 4.4, in-distribution)", "",
            "```", command, "```", "",
            "The paper's Table 3 localizes with PASCAL VOC animal crops and ImageNet ResNet152s; "
            "here the 29 mammal and bird classes of Tiny ImageNet (64x64, ImageNet's images, "
            "a box on every image) are both the training and the test data, so every test "
            "image belongs to a class the model knows and the question is decidable. Box = the "
            "ground-truth region of appendix E. One filter (E.1) and CAM (E.2) at the paper's "
            "top 20% / IoU > 0.15, the CSG protocol's top 30% / IoU > 0.3, the pointing game "
            "(the CAM's maximum inside the box) and Grad-CAM of the STD model as the post-hoc "
            "baseline. Each LSG − STD cell gives the verdict of its 95% interval.", ""]
    for name, document in documents.items():
        text += setting_section(name, document)
    path = os.path.join(out_dir, PAGE_FILE)
    run_io.write_text(path, "\n".join(text) + kept_notes(path))
    return path


def main_page_section(results_dir: str) -> list:
    """The section "Table 3 on Tiny ImageNet animals" of the main results page, from
    ``results_dir/tiny-imagenet``
    (:func:`lsg_tf.reproduction.tiny_imagenet.reproduce_tiny_imagenet`);
    without it, one paragraph saying how to make it."""
    folder = os.path.join(results_dir, TINY_DIR)
    summary_path = os.path.join(folder, RESULTS_FILE)
    lines = ["## Table 3 on Tiny ImageNet animals (in-distribution)", ""]
    if not os.path.exists(summary_path):
        return lines + ["Not run here: `python -m lsg_tf.reproduce --localization=tiny_imagenet "
                        "--data_dir=DATA/tiny-imagenet-animals` writes it (docs/reproduce.md).",
                        ""]
    summary = run_io.read_json(summary_path)
    lines += ["The decidable version of Table 3 (the MSRC-v2 section above is a cross-data-set "
              "check): models trained on Tiny ImageNet's 29 animal classes, scored on their "
              f"own test images against one box each. Page: [{TINY_DIR}]({TINY_DIR}/README.md)"
              f"; command: `{summary['command']}`.", ""]
    for name, info in summary["settings"].items():
        document = run_io.read_json(os.path.join(folder, info["folder"], "box_localization.json"))
        section = setting_section(name, document, prefix=f"{TINY_DIR}/")
        lines += ["###" + section[0][2:]] + section[1:]
    return lines
