"""Figures. matplotlib is imported here only, inside the functions that draw."""

from __future__ import annotations

import io

import numpy as np


def pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def gate_figure(gate: np.ndarray, class_names=None, title: str | None = None):
    """Heatmap of G, classes (rows) x filters (columns), as the paper's Fig. 4."""
    from lsg_tf.core.gate import density

    plt = pyplot()
    gate = np.asarray(gate)
    num_classes, num_filters = gate.shape
    width = min(16.0, max(6.0, 0.12 * num_filters + 2.0))
    fig, ax = plt.subplots(figsize=(width, 0.3 * num_classes + 1.6))
    image = ax.imshow(gate, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0,
                      interpolation="nearest")
    ax.set_xlabel("filter")
    ax.set_ylabel("class")
    ax.set_yticks(range(num_classes))
    ax.set_yticklabels(class_names if class_names is not None else range(num_classes),
                       fontsize=7)
    ax.set_title(title or f"gate G ({num_classes} x {num_filters}), "
                 f"density {float(density(gate)):.3f}")
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    fig.tight_layout()
    return fig


def save_figure(fig, path: str, dpi: int = 110) -> None:
    """Saves a figure atomically as PNG and closes it."""
    from lsg_tf.run_io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    pyplot().close(fig)


def figure_to_rgb(fig) -> np.ndarray:
    """Renders a figure to a uint8 ``[H, W, 3]`` array and closes it (for TensorBoard)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    pyplot().close(fig)
    buffer.seek(0)
    image = pyplot().imread(buffer)
    return (image[..., :3] * 255).astype(np.uint8)


def epoch_curves_figure(histories: dict, metric: str = "test/accuracy",
                        ylabel: str = "held-out accuracy"):
    """One line per run: ``metric`` after each epoch, a dot on every epoch that trained the
    LSG path (``history["path"] == "lsg"``; the joint path gets a square).

    Args:
        histories: ``{label: history}``, each a run's ``metrics.json`` ``"history"``.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for label, history in histories.items():
        epochs = np.asarray(history["epoch"]) + 1
        values = np.asarray(history[metric], dtype=float)
        (line,) = ax.plot(epochs, values, label=label, linewidth=1.4)
        for path, marker in (("lsg", "o"), ("joint", "s")):
            on = np.asarray(history.get("path", [])) == path
            if on.any():
                ax.plot(epochs[on], values[on], marker, color=line.get_color(), markersize=4)
    ax.set_xlabel("epoch (dots: the LSG path trained in that epoch)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
