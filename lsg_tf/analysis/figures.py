"""Figures of the analyses (paper Figs. 4-8 and 10). matplotlib is imported inside each function.

Every function takes plain arrays keyed by run name and returns a matplotlib figure; save it
with :func:`lsg_tf.core.plots.save_figure` (atomic PNG).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lsg_tf.core import plots


def _grid(plt, rows, cols, cell_width, cell_height):
    fig, axes = plt.subplots(rows, cols, figsize=(cell_width * cols, cell_height * rows),
                             squeeze=False)
    return fig, axes


def _class_ticks(ax, class_names, axis="both"):
    ticks = range(len(class_names))
    if axis in ("both", "y"):
        ax.set_yticks(ticks)
        ax.set_yticklabels(class_names, fontsize=6)
    if axis in ("both", "x"):
        ax.set_xticks(ticks)
        ax.set_xticklabels(class_names, fontsize=6, rotation=90)


def gate_heatmaps(gates: Mapping[str, np.ndarray], class_names: Sequence[str]):
    """Fig. 4: one gate heatmap (classes x filters, values in [0, 1]) per run."""
    from lsg_tf.core.gate import density

    plt = plots.pyplot()
    num_classes, num_filters = next(iter(gates.values())).shape
    width = min(16.0, max(6.0, 0.12 * num_filters + 2.5))
    fig, axes = _grid(plt, len(gates), 1, width, 0.3 * num_classes + 1.3)
    for ax, (title, gate) in zip(axes[:, 0], gates.items()):
        image = ax.imshow(gate, aspect="auto", cmap="viridis", vmin=0, vmax=1,
                          interpolation="nearest")
        ax.set_title(f"{title}: density {float(density(gate)):.3f}", fontsize=9)
        _class_ticks(ax, class_names, "y")
        ax.set_xlabel("filter", fontsize=8)
        fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    fig.tight_layout()
    return fig


def confusion_grid(confusions: Mapping[str, Sequence[tuple[str, np.ndarray]]],
                   class_names: Sequence[str]):
    """Fig. 5: row-normalised confusion matrices, one row of panels per run.

    Args:
        confusions: run name -> [(panel title, counts [C, C]), ...].
    """
    plt = plots.pyplot()
    cols = max(len(p) for p in confusions.values())
    fig, axes = _grid(plt, len(confusions), cols, 3.6, 3.4)
    for row, (run, panels) in enumerate(confusions.items()):
        for col in range(cols):
            ax = axes[row, col]
            if col >= len(panels):
                ax.axis("off")
                continue
            title, counts = panels[col]
            counts = np.asarray(counts, dtype=np.float64)
            rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
            ax.imshow(rates, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"{run}\n{title}", fontsize=8)
            _class_ticks(ax, class_names)
            ax.set_xlabel("predicted", fontsize=7)
            ax.set_ylabel("true", fontsize=7)
    fig.tight_layout()
    return fig


def similarity_grid(matrices: Mapping[str, tuple[np.ndarray, np.ndarray]],
                    class_names: Sequence[str]):
    """Fig. 6: S_TP and S_FN per run, each row divided by its largest absolute value.

    Args:
        matrices: run name -> (S_TP [C, C], S_FN [C, C]).
    """
    plt = plots.pyplot()
    fig, axes = _grid(plt, len(matrices), 2, 3.6, 3.4)
    for row, (run, pair) in enumerate(matrices.items()):
        for col, (label, matrix) in enumerate(zip(("S_TP", "S_FN"), pair)):
            matrix = np.asarray(matrix, dtype=np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = np.abs(matrix).max(axis=1, keepdims=True)  # NaN for empty rows
                shown = matrix / np.where(scale > 0, scale, 1)
            ax = axes[row, col]
            ax.imshow(np.ma.masked_invalid(shown), cmap="magma", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_title(f"{run}: {label} (row-scaled)", fontsize=8)
            _class_ticks(ax, class_names)
            ax.set_xlabel("gate row c", fontsize=7)
            ax.set_ylabel("image class y", fontsize=7)
    fig.tight_layout()
    return fig


def correlation_panels(correlations: Mapping[str, np.ndarray], thresholds: Sequence[float],
                       curves: Mapping[str, np.ndarray]):
    """Fig. 7: filter correlation matrices (in the given filter order) and redundancy curves.

    The colour range is symmetric and shared by every matrix: ± the largest off-diagonal
    magnitude (the diagonal, always 1, is drawn saturated).
    """
    plt = plots.pyplot()
    panels = len(correlations) + 1
    cols = min(3, panels)
    rows = -(-panels // cols)
    fig, axes = _grid(plt, rows, cols, 3.9, 3.5)
    flat = list(axes.ravel())
    off = [np.abs(c[~np.eye(len(c), dtype=bool)]) for c in correlations.values()]
    # A run without filter weights has an all-NaN matrix (n/a): an empty panel.
    limit = max((float(np.nanmax(o)) for o in off if np.isfinite(o).any()), default=0.0) or 1.0
    for ax, (run, corr) in zip(flat, correlations.items()):
        image = ax.imshow(corr, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(run if np.isfinite(corr).any() else f"{run}: n/a", fontsize=9)
        ax.set_xlabel("filter (grouped by gate)", fontsize=7)
        ax.set_ylabel("filter", fontsize=7)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=6)
    for ax in flat[panels:]:
        ax.axis("off")
    ax = flat[panels - 1]
    styles = ("-", "--", "-.", ":")
    markers = ("o", "s", "^", "v", "D", "x")
    for i, (run, curve) in enumerate(curves.items()):
        ax.plot(thresholds, curve, linestyle=styles[i % len(styles)],
                marker=markers[i % len(markers)], markersize=3, label=run)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    positive = [t for t, *values in zip(thresholds, *curves.values())
                if np.nan_to_num(values).max() > 0]
    if positive and len(thresholds) > 1:  # zoom on the thresholds where something happens
        step = float(np.min(np.diff(np.sort(thresholds))))
        ax.set_xlim(thresholds.min() - step / 2, max(positive) + 1.5 * step)
    ax.set_xlabel("threshold t", fontsize=8)
    ax.set_ylabel("fraction of pairs with C > t", fontsize=8)
    ax.set_title("redundancy", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def cluster_panels(panels: Mapping[str, tuple[np.ndarray, np.ndarray]],
                   class_names: Sequence[str]):
    """Fig. 10: k-means centres (rows matched to gate rows) next to the gate, per run.

    Args:
        panels: run name -> (centres [C, K] with row c matched to gate row c, gate [C, K]),
            both with filters already in display order.
    """
    plt = plots.pyplot()
    num_classes, num_filters = next(iter(panels.values()))[0].shape
    width = min(9.0, max(4.0, 0.07 * num_filters + 1.5))
    fig, axes = _grid(plt, len(panels), 2, width, 0.25 * num_classes + 1.4)
    for row, (run, (centres, gate)) in enumerate(panels.items()):
        centres = np.asarray(centres, dtype=np.float64)
        peak = centres.max(axis=1, keepdims=True)
        shown = centres / np.where(peak > 0, peak, 1)
        for col, (label, matrix) in enumerate((("k-means centres (row-scaled)", shown),
                                               ("gate", gate))):
            ax = axes[row, col]
            ax.imshow(matrix, aspect="auto", cmap="viridis", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_title(f"{run}: {label}", fontsize=8)
            _class_ticks(ax, class_names, "y")
            ax.set_xlabel("filter (grouped by gate)", fontsize=7)
    fig.tight_layout()
    return fig


def localization_figure(rows, run_names):
    """Paper Fig. 8: per class a row of image, then per run its best filter and CAM, then GT.

    Args:
        rows: ``(class_name, image [H, W, 1 or 3] uint8, target bool [H, W],
            [(filter_seg, filter_index, cam_seg) per run])``.
        run_names: run labels.
    """
    plt = plots.pyplot()
    cols = 2 + 2 * len(run_names)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.9 * cols, 1.6 * len(rows) + 0.4),
                             squeeze=False)
    for r, (name, image, target, per_run) in enumerate(rows):
        shown = image[..., 0] if image.shape[-1] == 1 else image
        panels = [(shown, f"{name}", None)]
        for run_name, (seg, k, cam) in zip(run_names, per_run):
            panels.append((seg, f"{run_name} filter {k}", "filter"))
            panels.append((cam, f"{run_name} CAM", "cam"))
        panels.append((target, "ground truth", "gt"))
        for c, (panel, title, kind) in enumerate(panels):
            ax = axes[r, c]
            if kind is None:
                ax.imshow(panel, cmap="gray" if panel.ndim == 2 else None)
            else:
                ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None)
                ax.imshow(np.ma.masked_where(~panel, panel), cmap="autumn", alpha=0.55,
                          vmin=0, vmax=1)
            ax.set_title(title, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


def report_figures(report) -> dict:
    """The report's figures (a :class:`~lsg_tf.analysis.report_lib.Report`), by FIGURES key."""
    names = list(report.data.class_names)
    runs = report.runs
    opts = report.options

    def gate_title(run):
        return f"{run.name} ({'trained G' if run.gate_trained else 'Φ-minimising G'})"

    def mask_title(result):
        classes = ", ".join(names[c] for c in result.classes)
        return f"masked: {classes} ({len(result.masked_filters)} filters)"

    return {
        "gates": gate_heatmaps({gate_title(r): r.analysis_gate for r in runs}, names),
        "masking": confusion_grid(
            {r.name: [("no mask", r.masking[0].baseline_confusion)]
             + [(mask_title(m), m.confusion) for m in r.masking] for r in runs}, names),
        "similarity": similarity_grid(
            {r.name: (r.similarity.tp, r.similarity.fn) for r in runs}, names),
        "correlation": correlation_panels(
            {r.name: r.correlation[np.ix_(r.filter_order, r.filter_order)] for r in runs},
            opts.redundancy_thresholds, {r.name: r.redundancy for r in runs}),
        "clusters": cluster_panels(
            {r.name: (_centres_by_gate_row(r)[:, r.filter_order],
                      r.analysis_gate[:, r.filter_order]) for r in runs}, names),
    }


def _centres_by_gate_row(run) -> np.ndarray:
    centres = np.zeros_like(run.clusters.centres)
    centres[run.clusters.gate_row] = run.clusters.centres
    return centres
