"""The figures of the attack report (matplotlib imported inside each function only)."""

from __future__ import annotations

import numpy as np

from lsg_tf.reporting import paper
from lsg_tf.robustness.attack_results import ATTACK_TITLES, at_size, roc_eps, roc_index
from lsg_tf.robustness.radii import eps_label


def _short(names, label):
    name = names[int(label)] if names else str(label)
    return name if len(name) <= 11 else name[:10] + "."


def examples_figure(results: dict):
    """Grid of clean / adversarial pairs: one row per run and attack."""
    from lsg_tf.core.plots import pyplot

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
    from lsg_tf.core.plots import pyplot

    plt = pyplot()
    runs = [r for r in results["runs"] if r.get("arrays", {}).get("roc")]
    k = roc_index(results) if runs else 0
    sizes = runs[0]["sweep"][k]["detection"]["train_per_class"] if runs else []
    fig, axes = plt.subplots(1, max(1, len(sizes)), squeeze=False,
                             figsize=(3.3 * max(1, len(sizes)), 3.3))
    for i, size in enumerate(sizes):
        ax = axes[0, i]
        for r in runs:
            fpr, tpr = at_size(r["arrays"]["roc"][k], size)
            mean = at_size(r["sweep"][k]["detection"]["mean_auc"], size)
            ax.plot(fpr, tpr, label=f"{r['label']} (mean AUC {100 * mean:.1f})")
        ax.set_title(f"{size} training images per class", fontsize=9)
        means = [at_size(r["sweep"][k]["detection"]["mean_auc"], size) for r in runs]
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
    fig.suptitle(f"ε = {eps_label(roc_eps(results))}" if runs else "", fontsize=9)
    fig.tight_layout()
    return fig


def sweep_figure(results: dict):
    """Detection AUC (largest training size) and PGD success against ε, one line per run."""
    from lsg_tf.core.plots import pyplot

    plt = pyplot()
    runs = results["runs"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.3))
    size = runs[0]["sweep"][0]["detection"]["train_per_class"][-1]
    for r in runs:
        eps = [e["eps"] for e in r["sweep"]]
        left.plot(eps, [100 * at_size(e["detection"]["mean_auc"], size) for e in r["sweep"]],
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
