"""Markdown, JSON and figures from :func:`lsg_tf.robustness.evaluate.evaluate_runs`.

``write_report(results, out_dir)`` writes ``attack_eval.md`` (the paper's Tables 4 and 5 with
95% intervals, plus cost and PGD tables), ``attack_eval.json`` (every number, per-image
black-box records, the LSG − STD comparisons), ``attack_eval_examples.png`` (clean /
adversarial pairs), ``attack_eval_eps.png`` (AUC and PGD success against ε) and
``attack_eval_roc.png`` (ROC curves of the first repeat per training size at the paper-like
ε). matplotlib is imported only inside the drawing functions.
"""

from __future__ import annotations

import os

import numpy as np

from lsg_tf import paper, run_io, stats
from lsg_tf.formatting import MISSING, fmt, percent, signed_interval
from lsg_tf.robustness.radii import eps_label

MARKDOWN_FILE = "attack_eval.md"
JSON_FILE = "attack_eval.json"
EXAMPLES_FIGURE = "attack_eval_examples.png"
ROC_FIGURE = "attack_eval_roc.png"
SWEEP_FIGURE = "attack_eval_eps.png"

ATTACK_TITLES = {"pgd": "targeted PGD", "pixel": "one-pixel", "local_search": "local search"}

# The rows of the paper's Table 5 (lsg_tf.paper.TABLE5), as the paper names them.
_PAPER_TABLE5_ROWS = (("No Attack: accuracy", "clean_accuracy"),
                      ("Single Pixel Attack: success rate", "pixel"),
                      ("Local Search Attack: success rate", "local_search"))


def results_to_json(results: dict) -> dict:
    """The JSON-serialisable part of ``results`` (example images and ROC curves dropped;
    NaN -> None, numpy -> Python)."""
    return run_io.jsonable(results, finite=True, str_keys=False, drop=("arrays",))


def _common_success(runs: list[dict], attack: str):
    """Success rates on the candidates every run classifies correctly (same images)."""
    records = [r[attack]["per_image"] for r in runs if attack in r]
    if len(records) != len(runs) or not runs:
        return None
    common = np.logical_and.reduce([np.asarray(p["attempted"], bool) for p in records])
    if not common.any():
        return int(common.sum()), [float("nan")] * len(runs)
    return int(common.sum()), [float(np.asarray(p["success"], bool)[common].mean())
                               for p in records]


def markdown(results: dict, command: str | None = None) -> str:
    """The report as Markdown (see the module docstring)."""
    runs = results["runs"]
    lines = (_introduction(results, command) + _sizes(results) + _table4(results)
             + _table5(results) + _black_box_cost(runs) + _pgd(runs) + _figures(results))
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
    if "detection" in _sweep(runs[0])[0]:
        det = cfg["detection"]
        feature_dim = _sweep(runs[0])[0]["detection"]["feature_dim"]
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
        lines.append(f"- One-pixel attack (ART PixelAttack's encoding and success test, differential "
                     f"evolution with repeated candidates scored once, untargeted): "
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


def _sweep(run: dict) -> list:
    return run.get("sweep") or [{}]


def reference_eps(runs: list) -> dict | None:
    """The ε of the sweep at which the STD run's detection AUC (mean over training sizes) is
    nearest the paper's STD mean (Table 4); the LSG-vs-STD claim is judged there.

    Chosen from the STD run alone, never from the difference being judged. Returns
    ``{"index", "eps", "std_auc" (%), "paper_auc" (%), "in_paper_range"}`` or None (no
    detection or no STD run).
    """
    baseline = next((r for r in runs if r["scheme"] == "std"), None)
    if baseline is None or "detection" not in _sweep(baseline)[0]:
        return None
    paper_std = paper.TABLE4_AUC[paper.STD]
    target = float(np.mean(paper_std))
    means = [100 * float(np.mean(list(e["detection"]["mean_auc"].values())))
             for e in baseline["sweep"]]
    index = int(np.argmin([abs(m - target) for m in means]))
    return {"index": index, "eps": baseline["sweep"][index]["eps"], "std_auc": means[index],
            "paper_auc": target,
            "in_paper_range": bool(min(paper_std) <= means[index] <= max(paper_std))}


def reference_eps_text(ref: dict) -> str:
    """Why :func:`reference_eps` chose its ε, as one clause for a page."""
    paper_std = paper.TABLE4_AUC[paper.STD]
    return (f"STD's AUC averaged over training sizes ({ref['std_auc']:.1f}%) is the nearest of "
            f"the sweep to the paper's STD average ({ref['paper_auc']:.1f}%; "
            + ("inside" if ref["in_paper_range"] else "**outside**")
            + f" the paper's STD range {min(paper_std):.1f}-{max(paper_std):.1f}%); the ε is "
            "chosen from the STD run alone")


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
    if "detection" not in _sweep(runs[0])[0]:
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
            cells = [f"{100 * _get(det['mean_auc'], n):.2f} ± {100 * _get(det['std_auc'], n):.2f}"
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
        common = _common_success(runs, attack) if attack in runs[0] else None
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
    if "detection" in _sweep(runs[0])[0]:
        eps = _roc_eps(results)
        lines += [f"![detection across ε]({SWEEP_FIGURE})", "",
                  "Left: detection AUC at the largest training size against ε; right: the "
                  "targeted PGD success rate on the pool.", "",
                  f"![ROC curves]({ROC_FIGURE})", "",
                  f"ROC curves of the detector at ε = {eps_label(eps)}, first repeat, per "
                  "training size.", ""]
    return lines


def _roc_index(results: dict) -> int:
    """The sweep position whose ROC curves are drawn: the paper-like ε, else the largest."""
    ref = reference_eps(results["runs"])
    return ref["index"] if ref else len(results["runs"][0]["sweep"]) - 1


def _roc_eps(results: dict) -> float:
    return results["runs"][0]["sweep"][_roc_index(results)]["eps"]


def _get(mapping, size):
    return mapping[size] if size in mapping else mapping[str(size)]


def _short(names, label):
    name = names[int(label)] if names else str(label)
    return name if len(name) <= 11 else name[:10] + "."


def examples_figure(results: dict):
    """Grid of clean / adversarial pairs: one row per run and attack."""
    from lsg_tf.plots import pyplot

    plt = pyplot()
    names = results["data"]["class_names"]
    rows = [(r, attack) for r in results["runs"] for attack in ("pgd", "pixel", "local_search")
            if attack in r.get("arrays", {})]
    count = max((len(r["arrays"][a]["labels"]) for r, a in rows), default=0)
    if not rows or not count:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no examples", ha="center", va="center")
        return fig
    fig, axes = plt.subplots(len(rows), 2 * count, squeeze=False,
                             figsize=(1.25 * 2 * count + 1.2, 1.45 * len(rows)))
    for row, (run, attack) in enumerate(rows):
        ex = run["arrays"][attack]
        for j in range(count):
            for k, key in enumerate(("clean", "adv")):
                ax = axes[row, 2 * j + k]
                ax.set_xticks([])
                ax.set_yticks([])
                if j >= len(ex["labels"]):
                    ax.axis("off")
                    continue
                image = np.clip(ex[key][j], 0, 1)
                ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray",
                          vmin=0, vmax=1, interpolation="nearest")
                if key == "clean":
                    ax.set_title(_short(names, ex["labels"][j]), fontsize=6)
                    continue
                success = bool(ex["success"][j])
                if not ex["attempted"][j]:
                    title = "not attacked"  # misclassified when clean
                else:
                    title = ("→ " if success else "✗ ") + _short(names, ex["adv_labels"][j])
                ax.set_title(title, fontsize=6, color="red" if success else "black")
                if attack != "pgd":
                    rr, cc = np.nonzero(np.any(ex["adv"][j] != ex["clean"][j], axis=-1))
                    if 0 < len(rr) <= 40:
                        ax.scatter(cc, rr, s=30, facecolors="none", edgecolors="red",
                                   linewidths=0.7)
        axes[row, 0].set_ylabel(f"{run['label']}\n{ATTACK_TITLES[attack]}", fontsize=6)
    fig.suptitle("clean / adversarial pairs (title: true class / predicted class)", fontsize=8)
    fig.tight_layout()
    return fig


def roc_figure(results: dict):
    """ROC curves of the detector (first repeat) at the paper-like ε, one panel per training
    size."""
    from lsg_tf.plots import pyplot

    plt = pyplot()
    runs = [r for r in results["runs"] if r.get("arrays", {}).get("roc")]
    k = _roc_index(results) if runs else 0
    sizes = runs[0]["sweep"][k]["detection"]["train_per_class"] if runs else []
    fig, axes = plt.subplots(1, max(1, len(sizes)), squeeze=False,
                             figsize=(3.3 * max(1, len(sizes)), 3.3))
    for i, size in enumerate(sizes):
        ax = axes[0, i]
        for r in runs:
            fpr, tpr = _get(r["arrays"]["roc"][k], size)
            mean = _get(r["sweep"][k]["detection"]["mean_auc"], size)
            ax.plot(fpr, tpr, label=f"{r['label']} (mean AUC {100 * mean:.1f})")
        ax.set_title(f"{size} training images per class", fontsize=9)
        means = [_get(r["sweep"][k]["detection"]["mean_auc"], size) for r in runs]
        if min(means) > 0.95:
            # Near-perfect curves hug the corner; a log axis shows where they differ.
            negatives = (runs[0]["sweep"][k]["detection"]["test_per_class"]
                         * results["data"]["num_classes"])
            low = 0.5 / negatives  # the smallest non-zero rate is 1 / negatives
            chance = np.logspace(np.log10(low), 0, 50)
            ax.plot(chance, chance, color="gray", linestyle=":", linewidth=0.8)
            ax.set_xscale("log", nonpositive="clip")
            ax.set_xlim(low, 1)
            ax.set_xlabel("false positive rate (log scale)")
        else:
            ax.plot([0, 1], [0, 1], color="gray", linestyle=":", linewidth=0.8)
            ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"ε = {eps_label(_roc_eps(results))}" if runs else "", fontsize=9)
    fig.tight_layout()
    return fig


def sweep_figure(results: dict):
    """Detection AUC (largest training size) and PGD success against ε, one line per run."""
    from lsg_tf.plots import pyplot

    plt = pyplot()
    runs = results["runs"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.3))
    size = runs[0]["sweep"][0]["detection"]["train_per_class"][-1]
    for r in runs:
        eps = [e["eps"] for e in r["sweep"]]
        left.plot(eps, [100 * _get(e["detection"]["mean_auc"], size) for e in r["sweep"]],
                  marker="o", label=r["label"])
        right.plot(eps, [100 * e["pgd"]["target_hit_rate"] for e in r["sweep"]], marker="o",
                   label=r["label"])
    paper_std = paper.TABLE4_AUC[paper.STD]
    left.axhspan(min(paper_std), max(paper_std), color="gray", alpha=0.15,
                 label="paper's STD range")
    radii = [e["eps"] for e in runs[0]["sweep"]]
    right.set_ylim(-3, 103)
    for ax, title in ((left, f"detection AUC (%), {size} per class"),
                      (right, "targeted PGD success (%)")):
        ax.set_xscale("log")
        ax.set_xticks(radii, [eps_label(e) for e in radii], fontsize=7)
        ax.minorticks_off()
        ax.set_xlabel("ε (images in [0, 1], log scale)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_report(results: dict, out_dir: str, command: str | None = None) -> dict:
    """Writes the Markdown, JSON and both figures into ``out_dir``; returns their paths."""
    from lsg_tf.plots import save_figure

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
