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
  ``.lock``          while a run trains: its pid and host (:mod:`lsg_tf.training.run_lock`)

Every file is written to a temporary name and renamed, so an interrupted run never
leaves a half-written file behind. Problems the user must fix (a path that is no writable
folder, a full disk, a corrupt file, a folder in use) raise :class:`RunIOError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
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
LOCK_FILE = ".lock"

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class RunIOError(ValueError):
    """A file or folder that cannot be used; the one-line message names it and what to do."""


def check_writable_folder(path: str, name: str) -> None:
    """Checks that ``path`` is a folder this process can write into, or can become one.

    Nothing stays behind: a probe file is written, synced and removed in the nearest
    existing folder. ``name`` (a flag or setting) starts the message.

    Raises:
        RunIOError: ``path`` or one of its parents is not a folder, or the nearest existing
            folder is not writable (permissions, a read-only or full file system).
    """
    path = os.path.abspath(path)
    existing = path
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        what = "a file, not a folder" if os.path.isfile(existing) else "not a folder"
        where = "is" if existing == path else f"is under {existing}, which is"
        raise RunIOError(f"{name} {path} {where} {what}: give a folder path (an existing "
                         f"folder or a new one)")
    try:
        fd, probe = tempfile.mkstemp(prefix=".tmp-probe-", dir=existing)
        try:
            os.write(fd, b"probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.remove(probe)
    except OSError as error:
        reason = ("no space left on the device" if error.errno in _NO_SPACE
                  else error.strerror or str(error))
        raise RunIOError(f"{name} {path}: cannot write into {existing} ({reason}): give a "
                         f"folder on a writable file system") from None


def _process_umask() -> int:
    """The process umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str):
    """Yields a temporary path next to ``path``; renames it to ``path`` on success.

    The temporary name keeps ``path``'s suffix (Keras picks formats by suffix).
    A full device (``ENOSPC``, also from the caller's writes) raises :class:`RunIOError`;
    ``path`` is then left as it was and the temporary file is removed.
    """
    directory, base = os.path.split(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + base, dir=directory)
        os.close(fd)
        # mkstemp makes 0600; readers (TF Serving) may be others
        os.chmod(tmp, 0o666 & ~_process_umask())
        yield tmp
        os.replace(tmp, path)
    except OSError as error:
        if error.errno in _NO_SPACE:
            raise RunIOError(f"no space left writing {path} (it was not written): free space "
                             f"on its device and run the same command again") from None
        raise
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.remove(tmp)


def write_text(path: str, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)


def write_json(path: str, data) -> None:
    write_text(path, json.dumps(jsonable(data), indent=2, sort_keys=True) + "\n")


def read_json(path: str, advice: str = ""):
    """The JSON data of ``path``.

    Raises:
        RunIOError: the file is not JSON (truncated or corrupt), naming it; ``advice`` (what to
            do about it) ends the message.
    """
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise RunIOError(f"{path} is truncated or corrupt ({error})"
                         + (f": {advice}" if advice else "")) from None


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
    to it afterwards, then older files are removed: a kill or a full disk at any moment
    leaves a ``state.json`` that names a complete file.
    """
    directory = os.path.join(run_dir, CHECKPOINT_DIR)
    name = f"epoch-{epoch:04d}.weights.h5"
    with atomic_path(os.path.join(directory, name)) as tmp:
        write_bytes(tmp, _weights_h5(model, name))
    write_json(os.path.join(directory, STATE_FILE),
               {"epoch": epoch, "weights": name, "history": history, "wall_time": wall_time})
    for old in os.listdir(directory):
        if old.endswith(".weights.h5") and old != name:
            os.remove(os.path.join(directory, old))


class _MemoryFile(io.BytesIO):
    """An in-memory file that Keras's ``save_weights`` accepts (its name ends .weights.h5)."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def __str__(self):
        return self.name


def _weights_h5(model, name: str) -> memoryview:
    """``model.save_weights`` as the bytes of a ``.weights.h5`` file, built in memory.

    HDF5 writing to the disk itself crashes the process when the disk is full; in memory it
    cannot fail, and :func:`write_bytes` then raises a plain ``OSError``.
    """
    buffer = _MemoryFile(name)
    model.save_weights(buffer)
    return buffer.getbuffer()


def write_bytes(path: str, data) -> None:
    """Writes ``data`` to ``path`` and syncs it (a full device is reported here, not later)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def has_checkpoint(run_dir: str) -> bool:
    """Whether ``run_dir`` holds at least one completed epoch."""
    return os.path.exists(os.path.join(run_dir, CHECKPOINT_DIR, STATE_FILE))


def checkpoint_state(run_dir: str) -> dict | None:
    """``checkpoints/state.json`` of ``run_dir`` (None without one).

    Raises:
        RunIOError: the state is truncated, corrupt or lacks an entry; the message names the
            file and how to start over.
    """
    directory = os.path.join(run_dir, CHECKPOINT_DIR)
    path = os.path.join(directory, STATE_FILE)
    if not os.path.exists(path):
        return None
    start_over = (f"delete {directory} to train the run again from epoch 1, or delete "
                  f"{run_dir} to start over")
    state = read_json(path, start_over)
    try:
        state = {"epoch": int(state["epoch"]), "history": dict(state["history"]),
                 "wall_time": float(state["wall_time"]),
                 "weights": os.path.join(directory, state["weights"]), "start_over": start_over}
    except (KeyError, TypeError, ValueError) as error:
        raise RunIOError(f"{path} is corrupt (bad or missing entry {error}): "
                         f"{start_over}") from None
    return state


def load_checkpoint(run_dir: str, model):
    """Restores the last checkpoint of ``run_dir`` into a compiled ``model``.

    Returns:
        ``(initial_epoch, history, wall_time)``; ``(0, {}, 0.0)`` if there is none.

    Raises:
        RunIOError: the checkpoint is unreadable (:func:`checkpoint_state`).
    """
    state = checkpoint_state(run_dir)
    if state is None:
        return 0, {}, 0.0
    if not os.path.isfile(state["weights"]):
        raise RunIOError(f"checkpoint {state['weights']} is missing: {state['start_over']}")
    model.build_optimizers()
    try:
        model.load_weights(state["weights"])
    except (OSError, ValueError, KeyError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise RunIOError(f"checkpoint {state['weights']} is truncated or corrupt ({reason}): "
                         f"{state['start_over']}") from None
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


def check_finished_runs(run_dirs, name: str = "--run") -> None:
    """Checks, before any work, that each of ``run_dirs`` is a finished run folder.

    Raises:
        RunIOError: naming the flag (``name``), the folder and the first file it lacks.
    """
    for run_dir in run_dirs:
        missing = _missing_run_file(run_dir)
        if missing:
            what = ("does not exist" if not os.path.lexists(run_dir) else
                    "is not a folder" if not os.path.isdir(run_dir) else f"has no {missing}")
            raise RunIOError(f"{name}={run_dir}: {what}, so it is not a finished lsg_tf run "
                             f"folder (a folder that lsg_tf.train finished)")


def _missing_run_file(run_dir: str) -> str | None:
    """The first file of a finished run that ``run_dir`` lacks, or None."""
    for name in (CONFIG_FILE, METRICS_FILE, GATE_FILE, MODEL_FILE):
        if not os.path.exists(os.path.join(run_dir, name)):
            return name
    return None


def read_run(run_dir: str) -> Run:
    """Reads a finished run folder.

    Raises:
        FileNotFoundError: naming the missing file if the run is incomplete.
    """
    missing = _missing_run_file(run_dir)
    if missing:
        raise FileNotFoundError(f"{os.path.join(run_dir, missing)} is missing: {run_dir!r} is "
                                f"not a finished lsg_tf run folder")
    redo = (f"delete it and run the run's training command again (its flags.txt), which "
            f"finishes the run anew from its last checkpoint, or delete {run_dir} to start over")
    gate_path = os.path.join(run_dir, GATE_FILE)
    try:
        gate = np.load(gate_path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise RunIOError(f"{gate_path} is truncated or corrupt ({error}): {redo}") from None
    return Run(run_dir=run_dir,
               config=read_json(os.path.join(run_dir, CONFIG_FILE), redo),
               metrics=read_json(os.path.join(run_dir, METRICS_FILE), redo),
               gate=gate)


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
