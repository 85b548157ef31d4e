"""Training callbacks: the training path per epoch, per-epoch history + resumable
checkpoints, gate image logging, stopping on a non-finite loss.

``LSGModel.fit`` adds :class:`TrainingPathSelector` to every ``fit``.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from lsg_tf import run_io
from lsg_tf.core.schedule import MIXED


class TrainingPathSelector(keras.callbacks.Callback):
    """Selects the model's training path from its Schedule (Alg. 1): at each epoch start,
    and before each step when the schedule alternates per step.

    ``LSGModel.fit`` adds it automatically; epochs resumed with ``initial_epoch``
    get the same path they would have had in an uninterrupted run (the step clock is the
    optimizer's step counter, which a checkpoint restores).
    """

    def __init__(self):
        super().__init__()
        self._mixed_epoch = None  # the current epoch, while its steps take turns

    def on_epoch_begin(self, epoch, logs=None):
        path = self.model.schedule.path_for_epoch(epoch)
        self._mixed_epoch = epoch if path == MIXED else None
        if path != MIXED:
            self.model.set_training_path(path)

    def on_train_batch_begin(self, batch, logs=None):
        if self._mixed_epoch is not None:
            step = int(self.model.optimizer.iterations.numpy())
            self.model.set_training_path(
                self.model.schedule.path_for_step(self._mixed_epoch, step))


def namespaced(logs: dict) -> dict:
    """Keras logs -> ``train/<name>`` and ``test/<name>`` keys (``val_x`` is the test set)."""
    out = {}
    for key, value in logs.items():
        if key.startswith("val_"):
            out["test/" + key[4:]] = float(value)
        else:
            out["train/" + key] = float(value)
    return out


class RunRecorder(keras.callbacks.Callback):
    """Appends every epoch's metrics to ``history`` and checkpoints the run.

    Args:
        run_dir: the run folder.
        history: the history so far (from a resumed checkpoint, or empty); it is
            extended in place, one list per metric plus ``epoch``, ``path`` and
            ``epoch_seconds``.
        wall_time: training seconds already spent before this ``fit`` (resume).
        checkpoint: save weights + optimizer states after every epoch.
    """

    def __init__(self, run_dir: str, history: dict, wall_time: float = 0.0,
                 checkpoint: bool = True):
        super().__init__()
        self.run_dir = run_dir
        self.history = history
        self.wall_time = wall_time
        self.checkpoint = checkpoint
        self._epoch_start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._epoch_start
        self.wall_time += seconds
        row = {"epoch": epoch, "path": self.model.schedule.path_for_epoch(epoch),
               "epoch_seconds": seconds}
        row.update(namespaced(logs or {}))
        for key, value in row.items():
            self.history.setdefault(key, []).append(value)
        if self.checkpoint:
            run_io.save_checkpoint(self.run_dir, self.model, epoch, self.history, self.wall_time)


class GateImageLogger(keras.callbacks.Callback):
    """Writes the gate heatmap to TensorBoard as an image after every epoch."""

    def __init__(self, log_dir: str, class_names=None):
        super().__init__()
        self.log_dir = log_dir
        self.class_names = class_names
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        from lsg_tf.core import plots

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        gate = np.asarray(self.model.gate.numpy())
        image = plots.figure_to_rgb(plots.gate_figure(gate, self.class_names,
                                                      title=f"gate after epoch {epoch}"))
        with self._writer.as_default():
            tf.summary.image("gate", image[None], step=epoch)
            tf.summary.histogram("gate_values", gate, step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss; the run is not finished."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises :class:`NonFiniteLossError` at the end of an epoch whose loss is NaN/inf.

    Put it before :class:`RunRecorder`: the bad epoch is then never checkpointed, the run
    never counts as finished and is never exported.
    """

    def on_epoch_end(self, epoch, logs=None):
        for key in ("loss", "std_ce", "lsg_ce"):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(float(value)):
                raise NonFiniteLossError(
                    f"training stopped: {key} is {float(value)} in epoch {epoch + 1}; the run is "
                    "not finished (lower --learning_rate or check the data and settings)")
