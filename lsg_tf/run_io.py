"""The run folder: the one module that reads and writes it.

A training run writes, in ``run_dir``:

  ``flags.txt``      resolved flags (a flagfile: rerun with ``--flagfile=run_dir/flags.txt``)
  ``config.json``    the resolved training configuration
  ``metrics.json``   final test accuracy / CE / gate density, per-epoch history, wall time
  ``gate.npy``       the gate matrix G, ``[C, K]`` float32
  ``gate.png``       G as a heatmap (classes x filters, the paper's Fig. 4)
  ``model.keras``    the trained model (``lsg_tf.load_model``)
  ``checkpoints/``   ``epoch-NNNN.weights.h5`` (weights + optimizer states) and ``state.json``
  ``tensorboard/``   scalars and the gate heatmap per epoch

Every file is written to a temporary name and renamed, so an interrupted run never
leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import tempfile

import numpy as np

FLAGS_FILE = "flags.txt"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
GATE_FILE = "gate.npy"
GATE_FIGURE = "gate.png"
MODEL_FILE = "model.keras"
CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "state.json"
TENSORBOARD_DIR = "tensorboard"


def _process_umask() -> int:
    """The process umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str):
    """Yields a temporary path next to ``path``; renames it to ``path`` on success.

    The temporary name keeps ``path``'s suffix (Keras picks formats by suffix).
    """
    directory, base = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + base, dir=directory)
    os.close(fd)
    # mkstemp makes 0600; readers (TF Serving) may be others
    os.chmod(tmp, 0o666 & ~_process_umask())
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: str, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)


def write_json(path: str, data) -> None:
    write_text(path, json.dumps(jsonable(data), indent=2, sort_keys=True) + "\n")


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def save_gate(run_dir: str, gate: np.ndarray) -> None:
    with atomic_path(os.path.join(run_dir, GATE_FILE)) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(gate, dtype=np.float32))


def save_model(run_dir: str, model) -> None:
    with atomic_path(os.path.join(run_dir, MODEL_FILE)) as tmp:
        model.save(tmp)


# ------------------------------------------------------------------ checkpoints
def save_checkpoint(run_dir: str, model, epoch: int, history: dict, wall_time: float) -> None:
    """Saves the state after ``epoch`` (0-based) so training resumes at ``epoch + 1``.

    Weights and optimizer states go into a new file first; ``state.json`` is switched
    to it afterwards, then older files are removed: a kill at any moment leaves a
    ``state.json`` that names a complete file.
    """
    directory = os.path.join(run_dir, CHECKPOINT_DIR)
    name = f"epoch-{epoch:04d}.weights.h5"
    with atomic_path(os.path.join(directory, name)) as tmp:
        model.save_weights(tmp)
    write_json(os.path.join(directory, STATE_FILE),
               {"epoch": epoch, "weights": name, "history": history, "wall_time": wall_time})
    for old in os.listdir(directory):
        if old.endswith(".weights.h5") and old != name:
            os.remove(os.path.join(directory, old))


def has_checkpoint(run_dir: str) -> bool:
    """Whether ``run_dir`` holds at least one completed epoch."""
    return os.path.exists(os.path.join(run_dir, CHECKPOINT_DIR, STATE_FILE))


def load_checkpoint(run_dir: str, model):
    """Restores the last checkpoint of ``run_dir`` into a compiled ``model``.

    Returns:
        ``(initial_epoch, history, wall_time)``; ``(0, {}, 0.0)`` if there is none.
    """
    state_path = os.path.join(run_dir, CHECKPOINT_DIR, STATE_FILE)
    if not os.path.exists(state_path):
        return 0, {}, 0.0
    state = read_json(state_path)
    model.build_optimizers()
    model.load_weights(os.path.join(run_dir, CHECKPOINT_DIR, state["weights"]))
    return state["epoch"] + 1, state["history"], state["wall_time"]


# ------------------------------------------------------------------- reading
@dataclasses.dataclass
class Run:
    """A finished run folder, as read by :func:`read_run`."""

    run_dir: str
    config: dict
    metrics: dict
    gate: np.ndarray

    @property
    def name(self) -> str:
        return os.path.basename(os.path.normpath(self.run_dir))

    @property
    def scheme(self) -> str:
        return self.config.get("scheme", "?")

    @property
    def model_path(self) -> str:
        """``model.keras``; load it with :func:`lsg_tf.load_model` (this module only does files)."""
        return os.path.join(self.run_dir, MODEL_FILE)


def read_run(run_dir: str) -> Run:
    """Reads a finished run folder.

    Raises:
        FileNotFoundError: naming the missing file if the run is incomplete.
    """
    for name in (CONFIG_FILE, METRICS_FILE, GATE_FILE, MODEL_FILE):
        path = os.path.join(run_dir, name)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{path} is missing: {run_dir!r} is not a finished lsg_tf run folder")
    return Run(run_dir=run_dir,
               config=read_json(os.path.join(run_dir, CONFIG_FILE)),
               metrics=read_json(os.path.join(run_dir, METRICS_FILE)),
               gate=np.load(os.path.join(run_dir, GATE_FILE)))


def is_finished(run_dir: str) -> bool:
    return all(os.path.exists(os.path.join(run_dir, n))
               for n in (CONFIG_FILE, METRICS_FILE, GATE_FILE, MODEL_FILE))


def jsonable(value, *, finite: bool = False, significant: int | None = None,
             str_keys: bool = True, drop=()):
    """A JSON-ready copy of ``value``, the one converter of every JSON file lsg_tf writes.

    Dicts, lists and tuples are copied; numpy arrays and scalars and tensors become Python
    lists and numbers.

    Args:
        finite: NaN and ±inf become None (``null``: strict JSON); otherwise they stay floats,
            which :func:`json.dumps` writes as ``NaN``/``Infinity`` and :func:`read_json` reads.
        significant: round floats to this many significant digits.
        str_keys: dict keys become strings (``sort_keys`` then orders them as text).
        drop: dict entries with these keys are left out (at every depth).
    """

    def convert(v):
        if isinstance(v, dict):
            return {(str(k) if str_keys else k): convert(x) for k, x in v.items()
                    if k not in drop}
        if isinstance(v, (list, tuple)):
            return [convert(x) for x in v]
        if isinstance(v, np.ndarray):
            return convert(v.tolist())
        if isinstance(v, np.generic):
            v = v.item()
        elif hasattr(v, "numpy"):
            return convert(v.numpy())
        if isinstance(v, float):
            if not math.isfinite(v):
                return None if finite else v
            if significant:
                return float(f"{v:.{significant}g}")
        return v

    return convert(value)
