"""Markdown, JSON and figures from :func:`lsg_tf.robustness.evaluate.evaluate_runs`.

``write_report(results, out_dir)`` writes ``attack_eval.md`` (the paper's Tables 4 and 5 with
95% intervals, the detection baselines, plus cost and PGD tables), ``attack_eval.json`` (every
number, per-image black-box records, the LSG − STD comparisons),
``attack_eval_examples.png`` (clean / adversarial pairs), ``attack_eval_eps.png`` (AUC and PGD
success against ε) and ``attack_eval_roc.png`` (ROC curves of the first repeat per training
size at the paper-like ε). matplotlib is imported only inside the drawing functions.
"""

from __future__ import annotations

import os

from lsg_tf import run_io
from lsg_tf.reporting import paper, stats
from lsg_tf.reporting.formatting import MISSING, fmt, percent, signed_interval
from lsg_tf.robustness.attack_figures import examples_figure, roc_figure, sweep_figure
from lsg_tf.robustness.attack_results import (  # noqa: F401  (re-exported)
    ATTACK_TITLES,
    DETECTOR_TITLES,
    at_size,
    common_success,
    reference_eps,
    reference_eps_text,
    results_to_json,
    roc_eps,
    sweep,
)
from lsg_tf.robustness.radii import eps_label

MARKDOWN_FILE = "attack_eval.md"
JSON_FILE = "attack_eval.json"
EXAMPLES_FIGURE = "attack_eval_examples.png"
ROC_FIGURE = "attack_eval_roc.png"
SWEEP_FIGURE = "attack_eval_eps.png"


# The rows of the paper's Table 5 (lsg_tf.reporting.paper.TABLE5), as the paper names them.
_PAPER_TABLE5_ROWS = (("No Attack: accuracy", "clean_accuracy"),
                      ("Single Pixel Attack: success rate", "pixel"),
                      ("Local Search Attack: success rate", "local_search"))


def markdown(results: dict, command: str | None = None) -> str:
    """The report as Markdown (see the module docstring)."""
    runs = results["runs"]
    lines = (_introduction(results, command) + _sizes(results) + _table4(results)
             + _baselines(results) + _table5(results) + _black_box_cost(runs) + _pgd(runs)
             + _figures(results))
    return "\n".join(lines) + "\n"


def _introduction(results: dict, command: str | None) -> list:
    """Title, data, the runs and the command."""
    runs = results["runs"]
    d = results["data"]
    lines = ["# Adversarial detection and black-box attacks: STD vs LSG", ""]
    h, w, c = d["image_shape"]
    lines += [
        f"Paper section 4.5 (Table 4) and appendix F (Table 5), on **{d['dataset']}** "
        f"({h}x{w}x{c}, {d['num_classes']} classes). Every run is evaluated on the same images "
        f"with the same PGD targets (one random permutation of the classes without fixed "
        f"points: {d['target_permutation']}).",
    ]
    if d["dataset"] != "cifar10":
        lines += ["", f"The paper's Tables 4 and 5 are for ResNet20s on CIFAR-10; these runs "
                      f"are on {d['dataset']}, so only the direction of the differences is "
                      f"comparable, not the values."]
    lines += ["", "| run | label | scheme | run's own test accuracy | gate density |",
              "|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['name']} | {r['label']} | {r['scheme']} | "
                     f"{fmt(r.get('run_test_accuracy'), 4)} | "
                     f"{fmt(r.get('gate_density'), 3)} |")
    if command:
        lines += ["", "Command:", "", f"    {command}"]
    return lines


def _sizes(results: dict) -> list:
    """The sample sizes and settings of every attack, and the wall time."""
    runs = results["runs"]
    cfg = results["config"]
    d = results["data"]
    lines = ["", "## Sizes", ""]
    lines.append(f"- Clean accuracy: {d['accuracy_images']} test images.")
    if "sweep" in runs[0]:
        p = cfg["pgd"]
        lines.append("- Targeted L∞ PGD (ART) at ε = "
                     + ", ".join(eps_label(e) for e in p["eps"])
                     + " (steps " + ", ".join(f"{v:.4g}" for v in p["eps_step"])
                     + f"), {p['max_iter']} iterations, on {d['pgd_pool_images']} "
                     f"{d['pgd_pool_split']} images (stratified).")
    if "detection" in sweep(runs[0])[0]:
        det = cfg["detection"]
        feature_dim = sweep(runs[0])[0]["detection"]["feature_dim"]
        lines.append(
            f"- Detection (Table 4): random forest ({det['n_estimators']} trees) on the GAP of "
            f"every conv layer ({feature_dim} features); training sets "
            f"of {', '.join(str(n) for n in det['train_per_class'])} images per class (+ their "
            f"PGD versions), test set {det['test_per_class']} per class (+ PGD versions), "
            f"{det['repeats']} repeats with different splits and seeds, drawn from a pool of "
            f"{det['pool_size_per_class']} images per class. The paper: "
            f"{'/'.join(str(n) for n in paper.TABLE4_SIZES)} per "
            f"class, test 100 per class, 5 repeats.")
    if "pixel" in runs[0]:
        p = cfg["pixel"]
        lines.append(f"- One-pixel attack (ART PixelAttack's encoding and success test, "
                     f"differential evolution with repeated candidates scored once, untargeted): "
                     f"{d['pixel_images']} test images, {p['pixels']} pixel(s), population "
                     f"{p['population']}, {p['max_iter']} generations (Su et al.: 400, 100).")
    if "local_search" in runs[0]:
        s = cfg["local_search"]
        cap = "all candidates" if s["max_candidates"] is None else \
            f"at most {s['max_candidates']} candidates per round"
        lines.append(f"- Local-search attack (Narodytska & Kasiviswanathan 2016, untargeted): "
                     f"{d['local_search_images']} test images, p = {s['p']}, r = {s['r']}, "
                     f"d = {s['d']}, t = {s['t']}, k = {s['k']}, R = {s['rounds']}, {cap}.")
    lines.append("- Black-box success rates count images the model classifies correctly "
                 "(attempts); success means the model's top-1 label of the returned image "
                 "differs from the true label.")
    lines.append(f"- Wall time: {results['wall_time_seconds']:.0f} s in total ("
                 + ", ".join(f"{r['name']} {r['seconds']['total']:.0f} s" for r in runs)
                 + "), on a shared 2-core CPU.")
    return lines


def _interval_cell(c: dict | None, scale: float = 100.0, digits: int = 2) -> str:
    """``"+d [low, high] verdict"`` of a comparison, in points."""
    if c is None:
        return MISSING
    return f"{signed_interval(c, scale, digits)} {c['verdict']}"


def _wilson_cell(successes: int, trials: int) -> str:
    if not trials:
        return MISSING
    low, high = stats.wilson_interval(successes, trials)
    return f"{100 * successes / trials:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def _table4(results: dict) -> list:
    """Detection AUC per ε and training size beside the targeted PGD success rate; the
    paper-like ε; each LSG run minus STD there with its 95% interval."""
    runs = results["runs"]
    if "detection" not in sweep(runs[0])[0]:
        return []
    det0 = runs[0]["sweep"][0]["detection"]
    sizes = det0["train_per_class"]
    lines = ["", "## Table 4: detection AUC (%) across ε", "",
             f"Mean ± std over {det0['repeats']} repeats, per training size (images per "
             "class); beside it the targeted PGD success rate on the pool (target class "
             "reached) with its 95% Wilson interval: an attack that does not succeed gives "
             "the detector nothing to detect.", "",
             "| ε | run | " + " | ".join(f"AUC, {n} per class" for n in sizes)
             + " | PGD target reached (%) |",
             "|---|---|" + "---|" * len(sizes) + "---|"]
    for k, entry in enumerate(runs[0]["sweep"]):
        for r in runs:
            e = r["sweep"][k]
            det, p = e["detection"], e["pgd"]
            cells = [f"{100 * at_size(det['mean_auc'], n):.2f} ± "
                     f"{100 * at_size(det['std_auc'], n):.2f}"
                     for n in sizes]
            hits = p.get("target_hits", round(p["target_hit_rate"] * p["images"]))
            lines.append(f"| {eps_label(e['eps'])} | {r['label']} | " + " | ".join(cells)
                         + f" | {_wilson_cell(hits, p['images'])} |")
    lines += ["", f"Paper (CIFAR-10, ε = 0.3 on inputs of unstated scale, "
              f"{' / '.join(str(n) for n in paper.TABLE4_SIZES)} per class): STD "
              + " / ".join(f"{v:.2f}" for v in paper.TABLE4_AUC[paper.STD])
              + ", LSG " + " / ".join(f"{v:.2f}" for v in paper.TABLE4_AUC[paper.LSG]) + "."]
    ref = reference_eps(runs)
    if ref is None:
        return lines
    lines += ["", f"**Paper-like ε: {eps_label(ref['eps'])}.** There "
              + reference_eps_text(ref) + ". The claim \"LSG's features make adversarial "
              "examples easier to detect\" (LSG − STD > 0) is judged there:", "",
              "| run | " + " | ".join(f"LSG − STD, {n} per class (AUC points, 95% interval)"
                                     for n in sizes) + " |",
              "|---|" + "---|" * len(sizes)]
    comparisons = results.get("comparisons")
    for r in runs:
        if r["scheme"] == "std":
            continue
        cells = [stats.find_comparison(comparisons, "detection_auc", r["name"], eps=ref["eps"],
                                       train_per_class=int(n)) for n in sizes]
        lines.append(f"| {r['label']} | " + " | ".join(map(_interval_cell, cells)) + " |")
    method = next((c["method"] for c in comparisons or () if c["metric"] == "detection_auc"),
                  None)
    if method:
        lines += ["", f"Interval: {method}."]
    return lines


def _baselines(results: dict) -> list:
    """Every detector's AUC with its interval per ε, training size and run, and each LSG run
    minus STD per detector at the paper-like ε."""
    runs = results["runs"]
    detectors = list(sweep(runs[0])[0].get("detection", {}).get("detectors", {}))
    if len(detectors) < 2:  # the random forest alone: Table 4
        return []
    det0 = runs[0]["sweep"][0]["detection"]
    sizes = det0["train_per_class"]
    lines = ["", "## Detection baselines: AUC (%) across ε", "",
             "Beside the paper's random forest, on the same images, PGD versions, splits and "
             "repeats (`lsg_tf/robustness/baseline_detectors.py`): Mahalanobis, the smallest "
             "distance of the penultimate features to a class mean under a shared covariance "
             "(Lee et al., 2018); LID, the local intrinsic dimensionality at every conv layer "
             "(Ma et al., 2018); KD + BU, the kernel density of the penultimate features under "
             "the predicted class and the variance of the softmax under dropout (Feinman et "
             "al., 2017); each a logistic regression on its statistics of the clean and PGD "
             f"training images. Mean ± std over {det0['repeats']} repeats [95% interval of the "
             "mean: a bootstrap over the detector's test images, each with its PGD version].",
             "", "| ε | detector | run | " + " | ".join(f"AUC, {n} per class" for n in sizes)
             + " |", "|---|---|---|" + "---|" * len(sizes)]
    for k, entry in enumerate(runs[0]["sweep"]):
        for name in detectors:
            for r in runs:
                d = r["sweep"][k]["detection"]["detectors"][name]
                cells = [f"{100 * at_size(d['mean_auc'], n):.2f} ± "
                         f"{100 * at_size(d['std_auc'], n):.2f} "
                         f"[{100 * at_size(d['interval'], n)[0]:.1f}, "
                         f"{100 * at_size(d['interval'], n)[1]:.1f}]" for n in sizes]
                lines.append(f"| {eps_label(entry['eps'])} | {DETECTOR_TITLES[name]} | "
                             f"{r['label']} | " + " | ".join(cells) + " |")
    ref = reference_eps(runs)
    gated = [r for r in runs if r["scheme"] != "std"]
    if ref is None or not gated:
        return lines
    lines += ["", f"LSG − STD at the paper-like ε = {eps_label(ref['eps'])} (AUC points, 95% "
              "paired bootstrap interval, verdict on \"LSG's features make adversarial "
              "examples easier to detect\"):", "",
              "| detector | run | " + " | ".join(f"{n} per class" for n in sizes) + " |",
              "|---|---|" + "---|" * len(sizes)]
    comparisons = results.get("comparisons")
    for name in detectors:
        metric, keys = (("detection_auc", {}) if name == "random_forest"
                        else ("detection_auc_baseline", {"detector": name}))
        for r in gated:
            cells = [stats.find_comparison(comparisons, metric, r["name"], eps=ref["eps"],
                                           train_per_class=int(n), **keys) for n in sizes]
            lines.append(f"| {DETECTOR_TITLES[name]} | {r['label']} | "
                         + " | ".join(map(_interval_cell, cells)) + " |")
    return lines


def _table5(results: dict) -> list:
    """Clean accuracy and black-box success rates with 95% intervals, the paper's, each LSG
    run minus STD with its interval, and the rates on the common images."""
    runs = results["runs"]
    comparisons = results.get("comparisons")
    labels = [r["label"] for r in runs]
    lines = ["", "## Table 5: black-box attacks", "",
             "Success rates (%) with their 95% Wilson interval and successes / attempts "
             "(attempts: the images the model classifies correctly).", "",
             "| Attack | Metric | " + " | ".join(labels) + " |",
             "|---|---|" + "---|" * len(runs)]
    lines.append("| No Attack | Accuracy | "
                 + " | ".join(percent(r["clean_accuracy"]) for r in runs) + " |")
    for attack, title in (("pixel", "Single Pixel Attack"),
                          ("local_search", "Local Search Attack")):
        if attack in runs[0]:
            cells = [f"{_wilson_cell(r[attack]['successes'], r[attack]['attempts'])} "
                     f"({r[attack]['successes']}/{r[attack]['attempts']})" for r in runs]
            lines.append(f"| {title} | Attack Success Rate | " + " | ".join(cells) + " |")
    lines += ["", "Paper (CIFAR-10, STD / LSG): " + "; ".join(
        f"{row} {paper.TABLE5[paper.STD][key]:.2f}% / {paper.TABLE5[paper.LSG][key]:.2f}%"
        for row, key in _PAPER_TABLE5_ROWS) + "."]
    gated = [r for r in runs if r["scheme"] != "std"]
    if comparisons and gated:
        rows = [("accuracy", "clean accuracy (paper: LSG ≥ STD)"),
                ("pixel", "one-pixel success (paper: LSG < STD)"),
                ("local_search", "local-search success (paper: LSG < STD)")]
        lines += ["", "LSG − STD in points, 95% interval and verdict:", "",
                  "| difference | " + " | ".join(r["label"] for r in gated) + " |",
                  "|---|" + "---|" * len(gated)]
        for metric, title in rows:
            cells = [stats.find_comparison(comparisons, metric, r["name"]) for r in gated]
            if any(cells):
                lines.append(f"| {title} | " + " | ".join(_interval_cell(c) for c in cells)
                             + " |")
        methods = {c["metric"]: c["method"] for c in comparisons}
        lines += ["", "Intervals: accuracy, " + methods.get("accuracy", MISSING)
                  + "; success rates, Newcombe's hybrid score interval of a difference of two "
                  "proportions (each model is attacked on the images it classifies "
                  "correctly, so the samples differ)."]
    for attack in ("pixel", "local_search"):
        common = common_success(runs, attack) if attack in runs[0] else None
        if common:
            n, rates = common
            lines.append(f"On the {n} {ATTACK_TITLES[attack]} images that every run classifies "
                         f"correctly: " + ", ".join(f"{lab} {percent(v)}"
                                                    for lab, v in zip(labels, rates)) + ".")
    return lines


def _black_box_cost(runs: list) -> list:
    """Attempts, successes, queries, time and changed pixels of each black-box attack."""
    if not any(a in runs[0] for a in ("pixel", "local_search")):
        return []
    lines = ["", "## Black-box attack cost", "",
             "| run | attack | attempts | successes | success rate | mean queries "
             "| mean queries (successes) | s / image | changed pixels (successes) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        for attack in ("pixel", "local_search"):
            if attack not in r:
                continue
            a = r[attack]
            lines.append(
                f"| {r['label']} | {ATTACK_TITLES[attack]} | {a['attempts']} | "
                f"{a['successes']} | {percent(a['success_rate'])} | "
                f"{fmt(a['mean_queries'], 0)} | "
                f"{fmt(a['mean_queries_successful'], 0)} | "
                f"{fmt(a['seconds_per_image'], 2)} | "
                f"{fmt(a['mean_changed_pixels_successful'], 1)} |")
    return lines


def _pgd(runs: list) -> list:
    """Targeted PGD at every ε: how often the target was reached and at what cost."""
    if "sweep" not in runs[0]:
        return []
    lines = ["", "## Targeted PGD", "",
             "| ε | run | images | clean accuracy | target reached | target reached (correct "
             "images) | label changed | mean ‖δ‖∞ | s / image |",
             "|---|---|---|---|---|---|---|---|---|"]
    for k in range(len(runs[0]["sweep"])):
        for r in runs:
            e = r["sweep"][k]
            p = e["pgd"]
            lines.append(
                f"| {eps_label(e['eps'])} | {r['label']} | {p['images']} | "
                f"{percent(p['clean_accuracy_on_pool'])} | {percent(p['target_hit_rate'])} | "
                f"{percent(p['target_hit_rate_correct'])} | {percent(p['label_changed_rate'])} "
                f"| {p['mean_linf']:.4f} | {p['seconds_per_image']:.3f} |")
    return lines


def _figures(results: dict) -> list:
    runs = results["runs"]
    lines = ["", "## Figures", "",
             f"![adversarial examples]({EXAMPLES_FIGURE})", "",
             "Clean / adversarial pairs per run and attack: successes first (red title: the "
             "predicted class after the attack; for PGD at the largest ε, the target was "
             "reached), then failures (✗), then images not attacked because the model "
             "misclassifies them. Circles mark the pixels the black-box attacks changed.", ""]
    if "detection" in sweep(runs[0])[0]:
        eps = roc_eps(results)
        lines += [f"![detection across ε]({SWEEP_FIGURE})", "",
                  "Left: detection AUC at the largest training size against ε; right: the "
                  "targeted PGD success rate on the pool.", "",
                  f"![ROC curves]({ROC_FIGURE})", "",
                  f"ROC curves of the detector at ε = {eps_label(eps)}, first repeat, per "
                  "training size.", ""]
    return lines


def write_report(results: dict, out_dir: str, command: str | None = None) -> dict:
    """Writes the Markdown, JSON and both figures into ``out_dir``; returns their paths."""
    from lsg_tf.core.plots import save_figure

    os.makedirs(out_dir, exist_ok=True)
    paths = {"markdown": os.path.join(out_dir, MARKDOWN_FILE),
             "json": os.path.join(out_dir, JSON_FILE),
             "examples": os.path.join(out_dir, EXAMPLES_FIGURE)}
    payload = results_to_json(results)
    if command:
        payload["command"] = command
    run_io.write_json(paths["json"], payload)
    save_figure(examples_figure(results), paths["examples"])
    if any(r.get("arrays", {}).get("roc") for r in results["runs"]):
        paths["roc"] = os.path.join(out_dir, ROC_FIGURE)
        save_figure(roc_figure(results), paths["roc"])
        paths["sweep"] = os.path.join(out_dir, SWEEP_FIGURE)
        save_figure(sweep_figure(results), paths["sweep"])
    run_io.write_text(paths["markdown"], markdown(results, command))
    return paths
