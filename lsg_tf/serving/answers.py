"""What the client shows of an answer: top-k classes, class names, the class filters and CAM
overlays."""

from __future__ import annotations

import os
import re

import numpy as np

from lsg_tf.serving.images import convert_channels
from lsg_tf.serving.signature import CLASS_NAMES_FILE


def top_classes(probabilities: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k most probable classes per row.

    Args:
        probabilities: ``[N, classes]``.
        k: positive; clipped to the number of classes.

    Returns:
        ``(indices int [N, k], values [N, k])``, most probable first (ties: lower index).
    """
    if int(k) != k or k < 1:
        raise ValueError(f"top_k must be a positive integer, got {k!r}")
    order = np.argsort(-np.asarray(probabilities), axis=-1, kind="stable")[:, :int(k)]
    return order, np.take_along_axis(np.asarray(probabilities), order, axis=-1)


def read_class_names(path: str) -> list[str]:
    """One class name per line (``class_names.txt`` of an exported version)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"class names file {path} does not exist")
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\r\n") for line in f if line.strip()]


def find_class_names(export_dir: str, model_name: str, version: int | None = None) -> str:
    """``<export_dir>/<model_name>/<version>/class_names.txt``; the largest version if None.

    ``export_dir`` may also be the model folder, the version folder or the file itself.
    """
    if os.path.isfile(export_dir):
        return export_dir
    candidates = [os.path.join(export_dir, model_name), export_dir]
    if os.path.isfile(os.path.join(export_dir, CLASS_NAMES_FILE)):
        return os.path.join(export_dir, CLASS_NAMES_FILE)
    for base in candidates:
        if not os.path.isdir(base):
            continue
        versions = sorted(int(d) for d in os.listdir(base) if d.isdigit())
        chosen = version if version else (versions[-1] if versions else None)
        path = os.path.join(base, str(chosen), CLASS_NAMES_FILE)
        if chosen and os.path.isfile(path):
            return path
    wanted = f"version {version}" if version else "any version"
    raise FileNotFoundError(f"--export_dir {export_dir}: no {CLASS_NAMES_FILE} of "
                            f"{model_name!r} ({wanted}) under it")


def format_top_k(names, probabilities, k: int, class_names=None) -> list[str]:
    """Printable lines: per image its name, then ``rank. class (index)  probability``."""
    indices, values = top_classes(probabilities, k)
    if class_names is not None and len(class_names) != probabilities.shape[-1]:
        raise ValueError(f"class names list has {len(class_names)} names, the model returned "
                         f"{probabilities.shape[-1]} classes")
    lines = []
    for name, row, row_values in zip(names, indices, values):
        lines.append(name)
        for rank, (index, value) in enumerate(zip(row, row_values), 1):
            label = f"{class_names[index]} ({index})" if class_names else f"class {index}"
            lines.append(f"  {rank}. {label}  {value:.6f}")
    return lines


def format_filters(class_filters: np.ndarray, filter_activations: np.ndarray,
                   top: int = 5) -> list[str]:
    """Which filters the predicted class uses (gate row > 0.5) and the most active ones.

    Args:
        class_filters: ``[K]`` gate row of the predicted class.
        filter_activations: ``[K]`` pooled activations of the last conv layer.
        top: how many of the most active filters to list; ``*`` marks those the class uses.
    """
    used = np.flatnonzero(np.asarray(class_filters) > 0.5)
    order = np.argsort(-np.asarray(filter_activations), kind="stable")[:max(int(top), 0)]
    used_set = set(used.tolist())
    active = ", ".join(f"{i}{'*' if i in used_set else ''} ({filter_activations[i]:.4g})"
                       for i in order)
    return [f"  filters of the predicted class (gate > 0.5): "
            f"{', '.join(map(str, used)) or 'none'} ({len(used)} of {len(class_filters)})",
            f"  most active filters (* = of the predicted class): {active}"]


def normalise_cam(cam: np.ndarray) -> np.ndarray:
    """Per-image min-max scaling of ``[..., h, w]`` maps to [0, 1] (constant maps -> 0)."""
    cam = np.asarray(cam, dtype=np.float64)
    low = cam.min(axis=(-2, -1), keepdims=True)
    span = cam.max(axis=(-2, -1), keepdims=True) - low
    return np.where(span > 0, (cam - low) / np.where(span > 0, span, 1.0), 0.0)


def save_overlay(image: np.ndarray, cam: np.ndarray, path: str, alpha: float = 0.5,
                 colormap: str = "jet") -> str:
    """Saves ``image`` with its class activation map blended on top as a PNG.

    Args:
        image: uint8 ``[h, w, C]``, C in {1, 3}.
        cam: ``[h, w]`` raw CAM values; normalised to [0, 1] here.
        path: the PNG to write (folders are created).
        alpha: weight of the colormap in the blend, in [0, 1].
        colormap: a matplotlib colormap name.

    Returns:
        ``path``; the PNG is ``h x w`` pixels, RGB.
    """
    import matplotlib

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    if cam.shape != image.shape[:2]:
        raise ValueError(f"cam has shape {list(cam.shape)}, the image is "
                         f"{image.shape[0]}x{image.shape[1]}")
    try:
        cmap = matplotlib.colormaps[colormap]
    except KeyError:
        raise ValueError(f"unknown colormap {colormap!r} (e.g. jet, viridis, inferno)") from None
    base = convert_channels(image, 3).astype(np.float64) / 255.0
    heat = cmap(normalise_cam(cam))[..., :3]
    blend = np.rint(((1.0 - alpha) * base + alpha * heat) * 255.0).astype(np.uint8)
    from PIL import Image

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(blend, "RGB").save(path, format="PNG")
    return path


def overlay_paths(names, out_dir: str) -> list[str]:
    """One distinct ``<out_dir>/<stem>_cam.png`` per image (``<stem>_<i>_cam.png`` for
    image i of a ``.npy`` batch or a repeated stem)."""
    paths, seen = [], set()
    for i, name in enumerate(names):
        base = os.path.basename(name)
        match = re.fullmatch(r"(.*)\[(\d+)\]", base)
        stem = os.path.splitext(match.group(1) if match else base)[0]
        file = f"{stem}_{match.group(2)}_cam.png" if match else f"{stem}_cam.png"
        if file in seen:
            file = f"{stem}_{i}_cam.png"
        seen.add(file)
        paths.append(os.path.join(out_dir, file))
    return paths
