"""Argument checks shared by every backbone family (one-line errors naming the value)."""

from __future__ import annotations

import math
import os

import keras

WEIGHTS_SUFFIXES = (".h5", ".hdf5", ".keras")  # ".weights.h5" ends with ".h5".


def check_input_shape(input_shape) -> tuple[int, int, int]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if (
        shape is None
        or len(shape) != 3
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        raise ValueError(
            f"input_shape must be (H, W, C) with 3 positive integers, got {input_shape!r}"
        )
    if shape[2] not in (1, 3):
        raise ValueError(f"input_shape {shape} has C={shape[2]} channels; allowed C: 1 or 3")
    return shape


def check_min_size(name: str, shape: tuple[int, int, int], min_size: int) -> None:
    if shape[0] < min_size or shape[1] < min_size:
        raise ValueError(
            f"input_shape {shape} is too small for backbone {name!r}; H and W must be >= {min_size}"
        )


def check_weight_decay(weight_decay) -> float:
    if (
        isinstance(weight_decay, bool)
        or not isinstance(weight_decay, (int, float))
        or not math.isfinite(weight_decay)
        or weight_decay < 0
    ):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    return float(weight_decay)


def check_option(name: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def check_seed(seed) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
    return seed


def check_weights(weights, allow_imagenet: bool) -> str | None:
    allowed = (
        "None, 'imagenet' or a local weights file path"
        if allow_imagenet
        else "None or a local weights file path"
    )
    if weights is None:
        return None
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str):
        raise ValueError(f"weights must be {allowed}, got {weights!r}")
    if weights == "imagenet":
        if not allow_imagenet:
            raise ValueError(
                f"weights='imagenet' needs a keras.applications backbone; allowed here: {allowed}"
            )
        return weights
    if not os.path.exists(weights):
        raise FileNotFoundError(
            f"weights file {weights!r} does not exist; allowed weights: {allowed}"
        )
    if not weights.endswith(WEIGHTS_SUFFIXES):
        raise ValueError(
            f"weights file {weights!r} has an unsupported extension; "
            "allowed: .h5, .hdf5, .weights.h5, .keras"
        )
    return weights


def load_weights(model: keras.Model, path: str, name: str, shape: tuple[int, int, int]) -> None:
    try:
        model.load_weights(path)
    except (ValueError, KeyError, OSError) as e:
        # Keras' messages span many lines and may print whole tensors.
        reason = " ".join(str(e).split()).split(" Target variable:")[0] or type(e).__name__
        if len(reason) > 300:
            reason = reason[:297] + "..."
        raise ValueError(
            f"weights file {path!r} does not fit backbone {name!r} with input_shape {shape}: "
            f"{reason}"
        ) from e
