"""The box-localization report: Table 3 on Tiny ImageNet (or any one-box-per-image data).

``box_localization_report(runs, data_dir, out_dir)`` scores STD and LSG runs (several seeds)
on the test split of a Tiny ImageNet layout folder with :mod:`lsg_tf.analysis.box_localization`
and writes ``box_localization.md`` (per variant the runs' totals, the LSG − STD and LSG − STD
Grad-CAM intervals per seed and pooled, per class CAM Avg-IoU), ``box_localization.json`` and
``box_localization.png`` (per class: image and box, one filter and CAM of each run of the first
seed).
"""

from __future__ import annotations

import os

import numpy as np

from lsg_tf import load_model, run_io
from lsg_tf.analysis import box_localization as bl
from lsg_tf.analysis import boxes
from lsg_tf.analysis.figures import localization_figure
from lsg_tf.analysis.localization_report import figure_rows, variant_name
from lsg_tf.core.plots import save_figure
from lsg_tf.reporting.formatting import fmt, signed_interval

MARKDOWN_FILE = "box_localization.md"
JSON_FILE = "box_localization.json"
FIGURE_FILE = "box_localization.png"
_LABELS = {"one_filter_avg_iou": "1-filter Avg-IoU", "one_filter_ap": "1-filter AP",
           "cam_avg_iou": "CAM Avg-IoU", "cam_ap": "CAM AP", bl.POINTING: "pointing game"}


def load_box_data(data_dir: str, classes=None):
    """The test images of a Tiny ImageNet folder as box masks: ``(VocData, boxes, names)``."""
    from lsg_tf.data import load_tiny_imagenet, load_tiny_imagenet_boxes

    splits = load_tiny_imagenet(data_dir, classes=classes)
    found = load_tiny_imagenet_boxes(data_dir, split="test", classes=classes)
    data = boxes.boxes_as_voc(splits.x_test, splits.y_test, found.boxes, splits.class_names,
                              ids=[os.path.basename(f) for f in found.files])
    return data, np.asarray(found.boxes), list(splits.class_names)


def box_localization_report(runs, data_dir: str, out_dir: str, command: str = "",
                            variants=bl.VARIANTS, batch_size: int = 64, notes=(),
                            resamples: int = bl.BOOTSTRAP_RESAMPLES, classes=None) -> dict:
    """Scores every run and writes the report.

    Args:
        runs: ``[{"run_dir", "name", "seed"}]``; ``name`` is the variant (``std``,
            ``alternate``, ...), the same for its seeds; every seed needs one STD run.
        data_dir: a Tiny ImageNet layout folder (its val split is scored).
        classes: wnids to keep (None: those of ``wnids.txt``), as the runs were trained.

    Returns:
        The JSON document written to ``box_localization.json``.
    """
    data, xyxy, class_names = load_box_data(data_dir, classes)
    items = boxes.box_items(data, class_names)
    os.makedirs(out_dir, exist_ok=True)
    groups, runs_info, figure_inputs = {}, [], []
    first_seed = min(int(r["seed"]) for r in runs)
    for spec in runs:
        run = run_io.read_run(spec["run_dir"])
        model = load_model(run.model_path)
        names = list(model.class_names or run.metrics.get("class_names") or [])
        if names != class_names:
            raise ValueError(f"{spec['run_dir']}: the model's classes differ from the test "
                             f"folder's ({len(names)} vs {len(class_names)} classes)")
        label = f"{spec['name']} seed {spec['seed']}"
        scores, maps = bl.score_run(model, spec["name"], run.scheme, int(spec["seed"]), data,
                                    items, xyxy, class_names, variants, batch_size, label)
        groups.setdefault(int(spec["seed"]), []).append(scores)
        runs_info.append({"name": spec["name"], "seed": int(spec["seed"]), "scheme": run.scheme,
                          "model": run.config.get("model"), "epochs": run.config.get("epochs"),
                          "test_accuracy": run.metrics.get("test/accuracy"),
                          "gate_density": run.metrics.get("gate_density"),
                          "item_accuracy": scores.accuracy})
        if int(spec["seed"]) == first_seed:
            figure_inputs.append((spec["name"], model, maps, scores.results[0]))
        print(f"{label:>18}: " + "  ".join(
            f"{variant_name(r.top_fraction, r.iou_threshold)}: 1-filter IoU "
            f"{r.one_filter.avg_iou:.3f} CAM IoU {r.cam.avg_iou:.3f}" for r in scores.results)
            + f"  pointing {scores.pointing.mean():.3f}", flush=True)
    for seed, group in groups.items():
        if sum(s.scheme == "std" for s in group) != 1:
            raise ValueError(f"seed {seed}: needs exactly one run of scheme std, got "
                             f"{[s.name for s in group]}")
    ordered = [groups[s] for s in sorted(groups)]
    compared = bl.box_comparisons(ordered, variants, resamples)
    prior = bl.centre_prior(items, xyxy, data.images[0].shape[:2], variants)
    totals = _totals(ordered, variants) + [
        _map_row("centre_prior", None, variant, prior) for variant in variants]
    document = run_io.jsonable({
        "command": command, "notes": list(notes), "runs": runs_info,
        "data": {"num_images": len(items), "classes": class_names,
                 "image_size": list(data.images[0].shape[:2])},
        "variants": [variant_name(*v) for v in variants], "totals": totals,
        "per_class_cam": {f"{s.name} seed {s.seed}": s.per_class_cam
                          for g in ordered for s in g},
        "comparisons": compared}, finite=True)
    names = [n for n, *_ in figure_inputs]
    rows = figure_rows(figure_inputs[0][3], items, class_names, data,
                       [inputs[1:] for inputs in figure_inputs])
    # One row of photos and maps per class: at 66 dpi the 29-class figure stays under 5 MB.
    save_figure(localization_figure(rows, names), os.path.join(out_dir, FIGURE_FILE), dpi=66)
    run_io.write_text(os.path.join(out_dir, MARKDOWN_FILE), markdown(document))
    run_io.write_json(os.path.join(out_dir, JSON_FILE), document)  # last: marks it complete
    return document


def _totals(groups, variants) -> list:
    """Rows ``{run, seed, variant, metric: value}`` of every run (and STD's Grad-CAM)."""
    rows = []
    for group in groups:
        for s in group:
            for v, variant in enumerate(variants):
                r = s.results[v]
                row = {"run": s.name, "seed": s.seed, "variant": variant_name(*variant),
                       "one_filter_avg_iou": r.one_filter.avg_iou,
                       "one_filter_ap": r.one_filter.ap, "cam_avg_iou": r.cam.avg_iou,
                       "cam_ap": r.cam.ap, bl.POINTING: float(s.pointing.mean())}
                rows.append(row)
                if s.grad_cam is not None:
                    rows.append(_map_row("std_grad_cam", s.seed, variant, s.grad_cam))
    return rows


def _map_row(run: str, seed, variant, scores: dict) -> dict:
    """The totals row of a per-item map scored by the CAM rules (Grad-CAM, the centre prior)."""
    ious, threshold = scores[tuple(variant)]
    return {"run": run, "seed": seed, "variant": variant_name(*variant),
            "cam_avg_iou": float(np.mean(ious)),
            "cam_ap": float(np.mean(np.asarray(ious) > threshold)),
            bl.POINTING: float(np.mean(scores["pointing"]))}


def markdown(document: dict) -> str:
    """The report's Markdown from its JSON document."""
    data = document["data"]
    text = ["# Localization on images with one box each (paper section 4.4, Table 3)", "",
            "```", document["command"], "```", "",
            f"Data: {data['num_images']} test images ({len(data['classes'])} classes, "
            f"{data['image_size'][0]}x{data['image_size'][1]}), one box each; the box is the "
            "ground-truth region. Maps are upsampled bilinearly to the image size.", "",
            "Runs: " + "; ".join(
                f"{r['name']} seed {r['seed']} = {r['model']}, scheme {r['scheme']}, "
                f"{r['epochs']} epochs, test accuracy {fmt(r['test_accuracy'], 4)}, "
                f"gate density {fmt(r['gate_density'], 3)}" for r in document["runs"]) + ".",
            "",
            "One filter (appendix E.1): each filter segmented at its top fraction over all "
            "pixels of all test images, assigned to the class of its highest AP; total = mean "
            "over filters. CAM (E.2): Σ_k W[k, c] F_k of the labelled class, segmented at the "
            "top fraction of its own values. Pointing game: the CAM's maximum inside the box. "
            "Grad-CAM of the STD model (std_grad_cam) and the centre prior (centre_prior: no "
            "model, a centred Gaussian) are scored by the CAM rules. Intervals: "
            "paired bootstrap over images, per seed and pooled over seeds (seeds held fixed).",
            ""]
    for note in document["notes"]:
        text += [note, ""]
    for variant in document["variants"]:
        text += [f"## {variant}", "",
                 "| run | seed | " + " | ".join(_LABELS.values()) + " |",
                 "|---|---|" + "---|" * len(_LABELS)]
        for row in document["totals"]:
            if row["variant"] == variant:
                seed = "—" if row["seed"] is None else row["seed"]  # no model, no seed
                text.append(f"| {row['run']} | {seed} | "
                            + " | ".join(fmt(row.get(m), 3) for m in _LABELS) + " |")
        text += ["", "| metric | LSG run | vs | seed | LSG | STD | LSG − STD [95% CI] | "
                 "verdict |", "|---|---|---|---|---|---|---|---|"]
        for c in document["comparisons"]:
            if c["variant"] in (variant, None) and (c["variant"] or variant) == variant:
                text.append(f"| {_LABELS[c['metric']]} | {c['run']} | {c['baseline']} | "
                            f"{c['seed']} | {fmt(c['lsg'], 3)} | {fmt(c['std'], 3)} | "
                            f"{signed_interval(c, 1, 3)} | {c['verdict']} |")
        text.append("")
    text += ["![box localization](box_localization.png)", "",
             "Figure: per class its first test image with the box; per run of the first seed "
             "the class's best assigned filter and the CAM of the labelled class.", ""]
    return "\n".join(text)
