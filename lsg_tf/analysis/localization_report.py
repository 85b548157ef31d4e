"""The localization report of trained runs: Table 3 per variant, JSON and Fig. 8 (section 4.4).

:func:`localization_report` is what ``python -m lsg_tf.localize`` runs; it is usable from
Python (the reproduction pipeline calls it) and reads no flags. Each LSG run's Table 3 totals
are compared with the STD run's (the run whose scheme is ``std``) by a 95% paired bootstrap
interval of LSG − STD over the evaluation items: :func:`comparisons` (the JSON's
``"comparisons"``).
"""

from __future__ import annotations

import os

import numpy as np

from lsg_tf import load_model
from lsg_tf.analysis import localization as loc
from lsg_tf.analysis.figures import localization_figure
from lsg_tf.core.plots import save_figure
from lsg_tf.data.voc import read_voc_folder
from lsg_tf.reporting import stats
from lsg_tf.reporting.formatting import MISSING, fmt
from lsg_tf.run_io import jsonable, read_run, write_json, write_text

MARKDOWN_FILE = "localization.md"
JSON_FILE = "localization.json"
FIGURE_FILE = "localization.png"

# The paired bootstrap of LSG − STD (fixed seed: the same intervals on every rerun).
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
BOOTSTRAP_CONFIDENCE = 0.95
# The paper claims LSG localizes better with one filter and comparably or better with CAMs
# (section 4.4, Table 3): every total is tested on the claim "LSG higher".
CLAIM = "higher"
METRICS = ("one_filter_avg_iou", "one_filter_ap", "cam_avg_iou", "cam_ap")
_METRIC_LABELS = {"one_filter_avg_iou": "1-filter Avg-IoU", "one_filter_ap": "1-filter {ap}",
                  "cam_avg_iou": "CAM Avg-IoU", "cam_ap": "CAM {ap}"}


def variant_name(top_fraction: float, iou_threshold: float) -> str:
    """A variant's name: ``"top20_ap15"`` for the top 20% and success ``IoU > 0.15``."""
    return f"top{round(top_fraction * 100, 6):g}_ap{round(iou_threshold * 100, 6):g}"


def _item_names(part) -> list:
    """The class name of each item of a one-filter or CAM result."""
    classes = sorted(set(part.item_class))
    names = [c.name for c in part.per_class]
    return [names[classes.index(c)] for c in part.item_class]


def _check_paired(lsg, std, run: str, baseline: str):
    for name, r in ((run, lsg), (baseline, std)):
        if r.one_filter.item_iou is None or r.cam.item_iou is None:
            raise ValueError(f"{name}: the result keeps no per-item IoUs; cannot bootstrap")
    same = (lsg.num_items == std.num_items
            and (lsg.item_image is None or std.item_image is None
                 or list(lsg.item_image) == list(std.item_image))
            and _item_names(lsg.cam) == _item_names(std.cam)
            and _item_names(lsg.one_filter) == _item_names(std.one_filter))
    if not same:
        raise ValueError(f"{run} and {baseline} were evaluated on different items; "
                         "a paired bootstrap needs the same items")


def recomputed_bootstrap(statistic_a, statistic_b, n: int, **kwargs):
    """:func:`stats.paired_bootstrap` of ``statistic_a(w) − statistic_b(w)``, ``w`` the counts
    of the resampled items: codes ``0..n-1`` stand for run a's items, ``n..2n-1`` for b's."""

    def statistic(codes):
        codes = codes.astype(np.int64)
        of_run = statistic_b if codes[0] >= n else statistic_a
        return of_run(np.bincount(codes % n, minlength=n))

    return stats.paired_bootstrap(np.arange(n), np.arange(n) + n, statistic=statistic, **kwargs)


def comparisons(per_variant, names, schemes, resamples: int = BOOTSTRAP_RESAMPLES,
                seed: int = BOOTSTRAP_SEED, confidence: float = BOOTSTRAP_CONFIDENCE) -> list:
    """LSG − STD of the Table 3 totals with paired bootstrap intervals (section 4.4, Table 3).

    The baseline is the first run whose scheme is ``"std"``; every run whose scheme is not
    ``"std"`` is compared with it, per variant, on the four totals. Each resample draws the
    image-class items with replacement, the same draw for both runs: CAM totals are means of
    a per-item IoU or success (``IoU > threshold``) indicator; the one-filter totals are
    recomputed from the drawn items, filter assignment included
    (:func:`~lsg_tf.analysis.localization.one_filter_totals`). The verdict is
    :func:`stats.interval_verdict` on the claim "higher" (the paper: LSG localizes better with
    one filter, comparably or better with CAMs).

    Args:
        per_variant: per variant, one :class:`~lsg_tf.analysis.localization.LocalizationResult`
            per run, all on the same items.
        names: the runs' names; ``schemes``: their schemes.
        resamples, seed, confidence: of the bootstrap.

    Returns:
        A list (empty without an STD run or an LSG run, or with fewer than 2 items) of::

            {"metric": "one_filter_avg_iou" | "one_filter_ap" | "cam_avg_iou" | "cam_ap",
             "variant": variant_name(...), "run": LSG run name, "baseline": STD run name,
             "lsg": LSG total, "std": STD total, "difference": lsg − std,
             "low": interval low, "high": interval high, "claim": "higher",
             "verdict": "reproduces" | "does not reproduce" | "inconclusive",
             "method": "paired bootstrap over N items, R resamples"}
    """
    names, schemes = list(names), list(schemes)
    if len(schemes) != len(names):
        raise ValueError(f"schemes has {len(schemes)} entries for {len(names)} runs")
    if "std" not in schemes:
        return []
    base = schemes.index("std")
    if any(len(results) != len(names) for results in per_variant):
        raise ValueError(f"every variant needs one result per run ({len(names)})")
    out = []
    for results in per_variant:
        std = results[base]
        n = std.num_items
        if n < 2:  # no interval from a single item
            return []
        method = f"paired bootstrap over {n} items, {resamples} resamples"
        kwargs = {"resamples": resamples, "confidence": confidence, "seed": seed}
        for name, scheme, lsg in zip(names, schemes, results):
            if scheme == "std":
                continue
            _check_paired(lsg, std, name, names[base])
            threshold = std.iou_threshold
            totals = [loc.OneFilterTotals(r.one_filter.item_iou, r.one_filter.item_class,
                                          threshold) for r in (lsg, std)]
            cam = [np.asarray(r.cam.item_iou, np.float64) for r in (lsg, std)]
            intervals = {
                "one_filter_avg_iou": recomputed_bootstrap(
                    lambda w: totals[0](w)[0], lambda w: totals[1](w)[0], n, **kwargs),
                "one_filter_ap": recomputed_bootstrap(
                    lambda w: totals[0](w)[1], lambda w: totals[1](w)[1], n, **kwargs),
                "cam_avg_iou": stats.paired_bootstrap(cam[0], cam[1], **kwargs),
                "cam_ap": stats.paired_bootstrap(cam[0] > threshold, cam[1] > threshold,
                                                 **kwargs)}
            values = {"one_filter_avg_iou": (lsg.one_filter.avg_iou, std.one_filter.avg_iou),
                      "one_filter_ap": (lsg.one_filter.ap, std.one_filter.ap),
                      "cam_avg_iou": (lsg.cam.avg_iou, std.cam.avg_iou),
                      "cam_ap": (lsg.cam.ap, std.cam.ap)}
            for metric in METRICS:
                (a, b), (_, low, high) = values[metric], intervals[metric]
                out.append({"metric": metric,
                            "variant": variant_name(std.top_fraction, threshold),
                            "run": name, "baseline": names[base], "lsg": float(a),
                            "std": float(b), "difference": float(a) - float(b),
                            "low": low, "high": high, "claim": CLAIM,
                            "verdict": stats.interval_verdict(low, high, CLAIM),
                            "method": method})
    return out


def _signed(value: float) -> str:
    """``+0.123`` / ``-0.123``; ``0.000`` when it rounds to zero (no ``-0.000``)."""
    text = f"{value:+.3f}"
    return text[1:] if float(text) == 0 else text


def _comparison_table(rows, ap: str, seed: int) -> list:
    """The "LSG − STD with 95% interval" table of one variant and its method sentence."""
    lines = ["### LSG − STD with 95% interval", "",
             "| run | metric | LSG | STD | LSG − STD | 95% interval | verdict (LSG higher) |",
             "|---|---|---|---|---|---|---|"]
    for c in rows:
        lines.append(f"| {c['run']} − {c['baseline']} | "
                     f"{_METRIC_LABELS[c['metric']].format(ap=ap)} | {fmt(c['lsg'], 3)} | "
                     f"{fmt(c['std'], 3)} | {_signed(c['difference'])} | "
                     f"[{_signed(c['low'])}, {_signed(c['high'])}] | {c['verdict']} |")
    lines += ["", f"Method: {rows[0]['method']} (seed {seed}); each resample draws the "
              "image-class items with replacement, the same for both runs, and recomputes the "
              "total (one filter: the filters' class assignment too); the verdict tests the "
              "claim LSG > STD (the paper: better with one filter, comparable or better with "
              "CAMs, tested as higher): reproduces when the 95% percentile interval lies above "
              "0, does not reproduce below 0, inconclusive when it contains 0.", ""]
    return lines


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


def write_markdown(path, command, names, runs_info, per_variant, data_info, notes=(),
                   comparisons=(), seed: int = BOOTSTRAP_SEED):
    """Writes localization.md: command, data, one Table 3 per variant, each followed by its
    LSG − STD intervals (``comparisons``: from :func:`comparisons`)."""
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
    if not any(i.get("scheme") == "std" for i in runs_info):
        text += ["No run has scheme std: no LSG − STD intervals.", ""]
    if notes:
        text += ["## Notes", ""]
        for note in notes:
            text += [note, ""]
    for variant_results in per_variant:
        r = variant_results[0]
        text += [f"## Top {r.top_fraction * 100:g}% activations, success IoU > "
                 f"{r.iou_threshold:g}", "", _table(variant_results, names), ""]
        name = variant_name(r.top_fraction, r.iou_threshold)
        rows = [c for c in comparisons if c["variant"] == name]
        if rows:
            text += _comparison_table(rows, f"AP{round(r.iou_threshold * 100)}", seed)
    text += ["![localization](localization.png)", "",
             "Figure: per class its first item; per run the class's best assigned filter "
             "(highest IoU^k; without an assigned filter, the filter best on this image) and "
             "the CAM of the labelled class, first variant; then the ground truth.", ""]
    write_text(path, "\n".join(text))


def localization_report(run_dirs, names, voc_dir: str, out_dir: str, command: str = "",
                        class_map: dict | None = None,
                        variants=(loc.PAPER_VARIANT, loc.LATER_VARIANT),
                        max_images: int | None = None, batch_size: int = 64,
                        notes=(), resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    """Localizes with one filter and with CAMs for every run and writes the report.

    Args:
        run_dirs: finished run folders; ``names`` their labels.
        voc_dir: a VOC-layout folder (:func:`lsg_tf.data.voc.read_voc_folder`).
        class_map: mask class -> model class (default MSRC/VOC -> CIFAR-10).
        variants: (top_fraction, iou_threshold) pairs.
        resamples: of the LSG − STD paired bootstrap (seed :data:`BOOTSTRAP_SEED`).

    Returns:
        The JSON document written to ``out_dir/localization.json``: ``command``, ``data``,
        ``runs``, ``notes``, ``variants`` (per variant its ``name``, ``top_fraction``,
        ``iou_threshold`` and per run the results without per-item fields) and
        ``comparisons`` (LSG − STD intervals, schema in :func:`comparisons`).
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
    compared = comparisons(per_variant, names, [i["scheme"] for i in runs_info], resamples)
    write_markdown(os.path.join(out_dir, MARKDOWN_FILE), command, names, runs_info,
                   per_variant, data_info, notes, compared)
    document = jsonable({
        "command": command, "data": data_info, "runs": runs_info, "notes": list(notes),
        "variants": [{"name": variant_name(v[0].top_fraction, v[0].iou_threshold),
                      "top_fraction": v[0].top_fraction, "iou_threshold": v[0].iou_threshold,
                      "runs": {n: loc.summary_dict(r) for n, r in zip(names, v)}}
                     for v in per_variant],
        "comparisons": compared}, finite=True)
    rows = figure_rows(first, items, class_names, data, figure_inputs)
    save_figure(localization_figure(rows, names), os.path.join(out_dir, FIGURE_FILE))
    write_json(os.path.join(out_dir, JSON_FILE), document)  # last: marks a complete report
    return document


def figure_rows(first, items, class_names, data, figure_inputs) -> list:
    """The rows of Fig. 8 (:func:`~lsg_tf.analysis.figures.localization_figure`): per class
    its first item; per run (``figure_inputs``: ``(model, maps, first variant's result)``) the
    class's best assigned filter (highest IoU^k; without one, the filter best on this image)
    and the CAM of the labelled class."""
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
    return rows
