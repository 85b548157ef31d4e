"""The localization report of trained runs: Table 3 per variant, JSON and Fig. 8 (section 4.4).

:func:`localization_report` is what ``python -m lsg_tf.localize`` runs; it is usable from
Python (the reproduction pipeline calls it) and reads no flags.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from lsg_tf.analysis import localization as loc
from lsg_tf.analysis.figures import localization_figure
from lsg_tf.data.voc import read_voc_folder
from lsg_tf.plots import save_figure
from lsg_tf import load_model
from lsg_tf.formatting import MISSING, fmt
from lsg_tf.run_io import jsonable, read_run, write_json, write_text

MARKDOWN_FILE = "localization.md"
JSON_FILE = "localization.json"
FIGURE_FILE = "localization.png"


def _table(results, names):
    """Markdown Table 3 for one variant: rows classes + total, columns per run."""
    first = results[0]
    ap = f"AP{round(first.iou_threshold * 100)}"
    header = ["class", "items"]
    for name in names:
        header += [f"{name} 1-filter Avg-IoU", f"{name} 1-filter {ap}", f"{name} #filters",
                   f"{name} CAM Avg-IoU", f"{name} CAM {ap}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for j, cam_row in enumerate(first.cam.per_class):
        row = [cam_row.name, str(cam_row.count)]
        for r in results:
            one, cam = r.one_filter.per_class[j], r.cam.per_class[j]
            row += [fmt(one.avg_iou, 3), fmt(one.ap, 3), str(one.count), fmt(cam.avg_iou, 3),
                    fmt(cam.ap, 3)]
        lines.append("| " + " | ".join(row) + " |")
    row = ["**total**", str(first.num_items)]
    for r in results:
        row += [f"**{fmt(r.one_filter.avg_iou, 3)}**", f"**{fmt(r.one_filter.ap, 3)}**",
                str(len(r.one_filter.filter_class)), f"**{fmt(r.cam.avg_iou, 3)}**",
                f"**{fmt(r.cam.ap, 3)}**"]
    lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_markdown(path, command, names, runs_info, per_variant, data_info, notes=()):
    """Writes localization.md: command, data, one Table 3 per variant."""
    text = ["# Localization with one filter and with CAMs (paper section 4.4, Table 3)", "",
            "```", command, "```", "",
            f"Data: {data_info['num_images']} images with a mapped class "
            f"({data_info['num_items']} image-class items) of a VOC-layout folder with "
            f"{data_info['num_folder_images']} images; class map "
            + ", ".join(f"{k} → {v}" for k, v in data_info["class_map"].items()) + ". "
            "Photos are resized to each model's input size "
            + ", ".join(f"{n}: {i['input_size']}" for n, i in zip(names, runs_info))
            + " (bilinear, antialiased; gray models get BT.601 luma); feature maps are "
            "upsampled bilinearly to the mask size; void pixels are excluded from IoU.", "",
            "Runs: " + "; ".join(
                f"{n} = {i['model']} scheme {i['scheme']} on {i['dataset']} "
                f"({i['train_subset'] or 'all'} training images, {i['epochs']} epochs), "
                f"test accuracy {fmt(i['accuracy'], 4)}, top-1 accuracy on the evaluated "
                f"photos' labelled classes {fmt(i['item_accuracy'], 3)}"
                for n, i in zip(names, runs_info)) + ".", "",
            "One filter (appendix E.1): each filter is segmented at its top fraction over all "
            "pixels of all evaluation images (one threshold per filter), assigned to the class "
            "of its highest AP; a class's columns average its filters "
            f"(#filters; {MISSING} if none), total = mean over all filters. CAM (E.2): "
            "Σ_k W[k, c] F_k for the item's class, segmented at the top fraction of its own "
            "values; per class over its items, total over all items.", ""]
    if notes:
        text += ["## Notes", ""]
        for note in notes:
            text += [note, ""]
    for variant_results in per_variant:
        r = variant_results[0]
        text += [f"## Top {r.top_fraction * 100:g}% activations, success IoU > "
                 f"{r.iou_threshold:g}", "", _table(variant_results, names), ""]
    text += ["![localization](localization.png)", "",
             "Figure: per class its first item; per run the class's best assigned filter "
             "(highest IoU^k; without an assigned filter, the filter best on this image) and "
             "the CAM of the labelled class, first variant; then the ground truth.", ""]
    write_text(path, "\n".join(text))


def localization_report(run_dirs, names, voc_dir: str, out_dir: str, command: str = "",
                        class_map: dict | None = None,
                        variants=(loc.PAPER_VARIANT, loc.LATER_VARIANT),
                        max_images: int | None = None, batch_size: int = 64,
                        notes=()) -> dict:
    """Localizes with one filter and with CAMs for every run and writes the report.

    Args:
        run_dirs: finished run folders; ``names`` their labels.
        voc_dir: a VOC-layout folder (:func:`lsg_tf.data.voc.read_voc_folder`).
        class_map: mask class -> model class (default MSRC/VOC -> CIFAR-10).
        variants: (top_fraction, iou_threshold) pairs.

    Returns:
        The JSON document written to ``out_dir/localization.json``.
    """
    if len(names) != len(run_dirs):
        raise ValueError(f"names has {len(names)} labels for {len(run_dirs)} runs")
    class_map = dict(class_map) if class_map else dict(loc.CIFAR10_FROM_MSRC)
    data = read_voc_folder(voc_dir)
    os.makedirs(out_dir, exist_ok=True)
    per_run, runs_info, figure_inputs = [], [], []
    items = None
    for run_dir, name in zip(run_dirs, names):
        run = read_run(run_dir)
        model = load_model(run.model_path)
        class_names = model.class_names or run.metrics.get("class_names")
        if not class_names:
            raise ValueError(f"{run_dir}: the model has no class names; cannot map mask classes")
        items = loc.evaluation_items(data, class_names, class_map, max_images)
        maps = loc.feature_maps(model, data.images, batch_size, f"{name} maps")
        results = loc.localize(model, data, items, class_names, variants, maps=maps,
                               progress=name)
        per_run.append(results)
        runs_info.append({"name": name, "scheme": run.scheme,
                          "model": run.config.get("model", "?"),
                          "dataset": run.config.get("dataset", "?"),
                          "train_subset": run.config.get("train_subset"),
                          "epochs": run.config.get("epochs", "?"),
                          "accuracy": run.metrics.get("test/accuracy"),
                          "input_size": "x".join(str(d) for d in model.backbone.input_shape[1:4])})
        runs_info[-1]["item_accuracy"] = loc.item_accuracy(model, maps, items)
        figure_inputs.append((model, maps, results[0]))
        print(f"{name:>10}: " + "  ".join(
            f"top {r.top_fraction:g}: 1-filter IoU {r.one_filter.avg_iou:.3f} "
            f"AP {r.one_filter.ap:.3f}, CAM IoU {r.cam.avg_iou:.3f} AP {r.cam.ap:.3f}"
            for r in results))
    per_variant = [[results[v] for results in per_run] for v in range(len(variants))]
    first = per_run[0][0]
    data_info = {"num_images": first.num_images, "num_items": first.num_items,
                 "num_folder_images": len(data.ids), "class_map": class_map}
    write_markdown(os.path.join(out_dir, MARKDOWN_FILE), command, names, runs_info,
                   per_variant, data_info, notes)
    document = jsonable({
        "command": command, "data": data_info, "runs": runs_info, "notes": list(notes),
        "variants": [{"top_fraction": v[0].top_fraction, "iou_threshold": v[0].iou_threshold,
                      "runs": {n: dataclasses.asdict(r) for n, r in zip(names, v)}}
                     for v in per_variant]}, finite=True)
    # Figure: per class its first item.
    rows = []
    for cls in first.cam.per_class:
        c = next(i.model_class for i in items
                 if str(class_names[i.model_class]) == cls.name)
        item = next(i for i in items if i.model_class == c)
        per = []
        for model, maps, result in figure_inputs:
            fc = np.array(result.one_filter.filter_class)
            fiou = np.array(result.one_filter.filter_iou)
            thresholds = np.array(result.one_filter.filter_threshold, np.float32)
            if (fc == c).any():
                k = int(np.flatnonzero(fc == c)[np.argmax(fiou[fc == c])])
            else:
                k = int(np.argmax(loc.one_filter_ious(maps, [item], thresholds)[0]))
            seg, cam = loc.segmentations(model, maps, item, k, float(thresholds[k]),
                                         result.top_fraction)
            per.append((seg, k, cam))
        rows.append((cls.name, data.images[item.image], item.target & item.valid, per))
    save_figure(localization_figure(rows, names), os.path.join(out_dir, FIGURE_FILE))
    write_json(os.path.join(out_dir, JSON_FILE), document)  # last: marks a complete report
    return document
