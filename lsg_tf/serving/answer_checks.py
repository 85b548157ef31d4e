"""Checks of a TF Serving answer against the signature contract, before anything reads it.

Every output must have one row per image; the outputs of :mod:`lsg_tf.serving.signature`
must also have rows of their shape and type (``probabilities``: ``[classes]`` finite numbers
in [0, 1]; ``classes``: one integer; ``cam``, ``class_filters``, ``filter_activations``:
finite numbers). A malformed answer is a :class:`ServingError` naming the output, the row
and what was expected. No TensorFlow here.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lsg_tf.serving.signature import (
    CAM,
    CLASS_FILTERS,
    CLASSES,
    FILTER_ACTIVATIONS,
    PROBABILITIES,
)


class ServingError(RuntimeError):
    """TF Serving could not be reached, refused the request or sent a malformed answer
    (one-line message)."""


@dataclasses.dataclass(frozen=True)
class _Row:
    rank: int
    kinds: str  # numpy dtype kinds allowed
    expected: str
    unit_interval: bool = False


_NUMBERS = "iuf"
ROWS = {
    PROBABILITIES: _Row(1, _NUMBERS, "[classes] numbers in [0, 1]", unit_interval=True),
    CLASSES: _Row(0, "iu", "one integer class index"),
    CAM: _Row(2, _NUMBERS, "[height, width] finite numbers"),
    CLASS_FILTERS: _Row(1, _NUMBERS, "[K] finite numbers"),
    FILTER_ACTIVATIONS: _Row(1, _NUMBERS, "[K] finite numbers"),
}
"""Output name -> what one image's row of it must be."""
_TOLERANCE = 1e-4  # float32 softmax rounding


def check_outputs(outputs: dict, batch_size: int, source: str) -> dict[str, np.ndarray]:
    """Output name -> ``[batch_size, ...]`` array, each checked by :func:`output_rows`."""
    return {name: output_rows(name, rows, batch_size, source) for name, rows in outputs.items()}


def output_rows(name: str, rows, batch_size: int, source: str) -> np.ndarray:
    """One output of an answer (a list or array of rows) as a ``[batch_size, ...]`` array.

    Raises:
        ServingError: not one row per image, rows of different shapes, or (outputs of the
            contract, :data:`ROWS`) a row of the wrong shape or type, NaN/inf, or a
            probability outside [0, 1]; ``source`` (``"REST answer"``) starts the message.
    """
    items = list(rows) if isinstance(rows, (list, tuple)) or (
        isinstance(rows, np.ndarray) and rows.ndim) else None
    if items is None or len(items) != batch_size:
        raise ServingError(f"{source} output {name!r} has shape {_shape(rows)}, expected a "
                           f"batch of {batch_size}")
    spec = ROWS.get(name)
    where = f"{source} output {name!r}"
    expected = f"expected {spec.expected}" if spec else "expected rows of one shape"
    arrays = []
    for i, row in enumerate(items):
        try:
            array = np.asarray(row)
        except ValueError:
            raise ServingError(f"{where} row {i} is ragged (lists of different lengths), "
                               f"{expected}") from None
        if spec:
            _check_row(array, spec, f"{where} row {i}")
        if arrays and array.shape != arrays[0].shape:
            raise ServingError(f"{where} row {i} has shape {list(array.shape)}, row 0 has "
                               f"{list(arrays[0].shape)}")
        arrays.append(array)
    return np.stack(arrays)


def _check_row(array: np.ndarray, spec: _Row, where: str) -> None:
    expected = f"expected {spec.expected}"
    if array.dtype.kind not in spec.kinds or array.ndim != spec.rank:
        raise ServingError(f"{where}: got {_describe(array)}, {expected}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ServingError(f"{where} holds NaN or inf, {expected}")
    if spec.unit_interval and array.size and not (
            -_TOLERANCE <= array.min() and array.max() <= 1 + _TOLERANCE):
        bad = array[(array < -_TOLERANCE) | (array > 1 + _TOLERANCE)][0]
        raise ServingError(f"{where} holds {float(bad):g}, {expected}")


def _describe(array: np.ndarray) -> str:
    kind = array.dtype.kind
    if kind == "O" and array.size and all(isinstance(x, (str, bytes)) for x in array.flat):
        kind = "U"  # gRPC's strings: bytes objects
    what = {"U": "text", "S": "bytes", "b": "booleans", "O": "non-numbers",
            "f": "numbers", "i": "integers", "u": "integers"}.get(kind, str(array.dtype))
    if array.ndim == 0:
        what = {"text": "the text", "numbers": "the number", "integers": "the integer",
                "booleans": "the boolean", "non-numbers": "the value"}.get(what, what)
    else:
        what += f" of shape {list(array.shape)}"
    text = repr(array.tolist())
    return f"{what} {text if len(text) <= 60 else text[:57] + '...'}"


def _shape(rows) -> list | str:
    try:
        return list(np.shape(rows))
    except ValueError:
        return "ragged"
