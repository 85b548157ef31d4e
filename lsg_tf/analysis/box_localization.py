"""Table 3 on images with one box each (paper section 4.4, appendix E), in-distribution.

:func:`analyse_box_runs` scores every run of a set of seed groups (each group: an STD run and
the LSG runs trained with the same seed) on the same test images and boxes:

* one filter (E.1) and CAM (E.2) Avg-IoU and AP at each (top fraction, IoU threshold) variant
  (the paper's top 20% / AP15 and the CSG protocol's top 30% / IoU > 0.3), through
  :mod:`lsg_tf.analysis.localization` with the boxes as masks (:mod:`lsg_tf.analysis.boxes`);
* the pointing game of the labelled class's CAM (its maximum inside the box);
* Grad-CAM of each STD model (:mod:`lsg_tf.analysis.grad_cam`), the post-hoc baseline, scored
  by the same rules;
* the centre prior (:func:`centre_prior`): no model, a Gaussian blob at the image centre scored
  by the CAM rules, the floor a map must beat where boxes are large and centred.

:func:`box_comparisons` gives LSG − STD (and LSG's CAM − STD's Grad-CAM) with a paired
bootstrap over images: per seed, and pooled over the seeds (each resample draws images; a
metric is the mean over the seeds of that seed's metric on the drawn images, so the pooled
interval holds the seeds fixed and resamples images). Every metric is a function of the
images' resample counts, which also recomputes the one-filter assignment per resample.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lsg_tf.analysis import boxes
from lsg_tf.analysis import localization as loc
from lsg_tf.analysis.grad_cam import grad_cam
from lsg_tf.analysis.localization_report import recomputed_bootstrap, variant_name
from lsg_tf.reporting import stats

VARIANTS = (loc.PAPER_VARIANT, boxes.CSG_VARIANT)
CLAIM = "higher"
POINTING = "pointing"  # the metric name of the pointing game (no variant)
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


@dataclasses.dataclass
class RunScores:
    """One run's localization on the box data.

    Attributes:
        name, scheme, seed: the run.
        accuracy: top-1 accuracy on the evaluated images.
        results: per variant, :class:`~lsg_tf.analysis.localization.LocalizationResult`.
        pointing: per-image hits of the CAM of the labelled class.
        grad_cam: for STD runs, per variant ``(item IoUs, threshold)`` of Grad-CAM, and
            ``"pointing"``: its per-image hits; None for LSG runs.
        per_class_cam: per variant, ``{class name: CAM Avg-IoU}``.
    """

    name: str
    scheme: str
    seed: int
    accuracy: float
    results: list
    pointing: np.ndarray
    grad_cam: dict | None
    per_class_cam: list


def score_run(model, name: str, scheme: str, seed: int, data, items, boxes_xyxy,
              class_names, variants=VARIANTS, batch_size: int = 64,
              progress: str | None = None) -> tuple[RunScores, np.ndarray]:
    """Scores one model on the box data; returns its scores and its feature maps."""
    maps = loc.feature_maps(model, data.images, batch_size, progress and f"{progress} maps")
    results = loc.localize(model, data, items, class_names, variants, maps=maps,
                           progress=progress)
    kernel = np.asarray(model.classifier.kernel)
    cams = boxes.item_cams(maps, kernel, items)
    size = data.images[0].shape[:2]
    pointing = boxes.pointing_game(cams, boxes_xyxy, size).hits
    gradcam = None
    if scheme == "std":
        shape = model.backbone.input_shape[1:4]
        images = np.stack([loc.to_channels(i, shape[-1]) for i in data.images])
        labels = np.array([item.model_class for item in items])
        maps_g = grad_cam(model, _resized(images, shape[:2]), labels, batch_size)
        gradcam = {"pointing": boxes.pointing_game(maps_g, boxes_xyxy, size).hits}
        for top, threshold in variants:
            gradcam[(top, threshold)] = (boxes.map_ious(maps_g, items, top), threshold)
    per_class = [{c.name: c.avg_iou for c in r.cam.per_class} for r in results]
    return RunScores(name, scheme, seed, loc.item_accuracy(model, maps, items), results,
                     pointing, gradcam, per_class), maps


def centre_prior(items, boxes_xyxy, size, variants=VARIANTS, sigma: float = 0.25) -> dict:
    """Scores of a map that ignores the image: a Gaussian of ``sigma`` times the image side,
    centred, segmented and pointed like a CAM (E.2's rule; its maximum is the centre pixel).

    Returns ``{(top, threshold): (item IoUs, threshold), "pointing": hits}``.
    """
    height, width = (int(v) for v in size)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    blob = np.exp(-(((xx - (width - 1) / 2) / (sigma * width)) ** 2
                    + ((yy - (height - 1) / 2) / (sigma * height)) ** 2) / 2)
    maps = np.broadcast_to(blob, (len(items), height, width))
    scores = {"pointing": boxes.pointing_game(maps, boxes_xyxy, size).hits}
    for top, threshold in variants:
        scores[(top, threshold)] = (boxes.map_ious(maps, items, top), threshold)
    return scores


def _resized(images: np.ndarray, size) -> np.ndarray:
    """``images`` at the model's input size (as :func:`loc.feature_maps` feeds them)."""
    size = tuple(int(s) for s in size)
    if images.shape[1:3] == size:
        return images
    import tensorflow as tf

    resized = tf.image.resize(images.astype(np.float32), size, antialias=True)
    return np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)


def _metric_functions(scores: RunScores, variant_index: int) -> dict:
    """``{metric: f(counts)}``: the run's metric on images counted ``counts[i]`` times."""
    result = scores.results[variant_index]
    threshold = result.iou_threshold
    totals = loc.OneFilterTotals(result.one_filter.item_iou, result.one_filter.item_class,
                                 threshold)
    cam = np.asarray(result.cam.item_iou, np.float64)
    return {"one_filter_avg_iou": lambda w: totals(w)[0],
            "one_filter_ap": lambda w: totals(w)[1],
            "cam_avg_iou": _mean_of(cam),
            "cam_ap": _mean_of(cam > threshold)}


def _grad_cam_functions(scores: RunScores, variant) -> dict:
    ious, threshold = scores.grad_cam[tuple(variant)]
    return {"cam_avg_iou": _mean_of(ious), "cam_ap": _mean_of(np.asarray(ious) > threshold)}


def _mean_of(values):
    values = np.asarray(values, np.float64)
    return lambda w: float(np.dot(w, values) / w.sum())


def _pooled(functions):
    """The mean over seeds of per-seed metric functions."""
    return lambda w: float(np.mean([f(w) for f in functions]))


def box_comparisons(groups, variants=VARIANTS, resamples: int = BOOTSTRAP_RESAMPLES,
                    seed: int = BOOTSTRAP_SEED) -> list:
    """LSG − STD comparisons with paired bootstrap intervals over images.

    Args:
        groups: per seed, a list of :class:`RunScores` (one STD run and its LSG runs).
        variants: the (top fraction, IoU threshold) pairs the runs were scored at.

    Returns:
        Rows ``{"metric", "variant" (None for the pointing game), "run" (an LSG run name
        without its seed), "baseline" ("std" or "std_grad_cam"), "seed" (an int, or "pooled"),
        "lsg", "std", "difference", "low", "high", "claim", "verdict", "method"}``.
    """
    rows = []
    lsg_names = sorted({s.name for g in groups for s in g if s.scheme != "std"})
    for name in lsg_names:
        pairs = [(next(s for s in g if s.scheme == "std"), next(s for s in g if s.name == name))
                 for g in groups if any(s.name == name for s in g)]
        n = pairs[0][0].pointing.size
        for v, variant in enumerate(variants):
            label = variant_name(*variant)
            for metric in ("one_filter_avg_iou", "one_filter_ap", "cam_avg_iou", "cam_ap"):
                lsg = [_metric_functions(l_, v)[metric] for _, l_ in pairs]
                std = [_metric_functions(s, v)[metric] for s, _ in pairs]
                rows += _rows(metric, label, name, "std", pairs, lsg, std, n, resamples, seed)
                if metric.startswith("cam"):
                    grad = [_grad_cam_functions(s, variant)[metric] for s, _ in pairs]
                    rows += _rows(metric, label, name, "std_grad_cam", pairs, lsg, grad, n,
                                  resamples, seed)
        lsg = [_mean_of(l_.pointing) for _, l_ in pairs]
        rows += _rows(POINTING, None, name, "std", pairs, lsg,
                      [_mean_of(s.pointing) for s, _ in pairs], n, resamples, seed)
        rows += _rows(POINTING, None, name, "std_grad_cam", pairs, lsg,
                      [_mean_of(s.grad_cam["pointing"]) for s, _ in pairs], n, resamples, seed)
    return rows


def _rows(metric, variant, name, baseline, pairs, lsg, std, n, resamples, seed) -> list:
    out = []
    everything = np.ones(n)
    seeds = [(pair[1].seed, [f], [g]) for pair, f, g in zip(pairs, lsg, std)]
    if len(pairs) > 1:
        seeds.append(("pooled", lsg, std))
    for seed_label, fs, gs in seeds:
        f, g = _pooled(fs), _pooled(gs)
        _, low, high = recomputed_bootstrap(f, g, n, resamples=resamples, seed=seed)
        a, b = f(everything), g(everything)
        out.append({"metric": metric, "variant": variant, "run": name, "baseline": baseline,
                    "seed": seed_label, "lsg": a, "std": b, "difference": a - b,
                    "low": low, "high": high, "claim": CLAIM,
                    "verdict": stats.interval_verdict(low, high, CLAIM),
                    "method": f"paired bootstrap over {n} images, {resamples} resamples"
                              + (f", mean over {len(fs)} seeds" if len(fs) > 1 else "")})
    return out
