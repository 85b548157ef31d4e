"""Run records: what a seeds table needs of a finished run, small enough to commit beside it.

A table over seeds (:mod:`lsg_tf.reproduction.scheme_table`) reads two things of each run: its
``metrics.json`` and, for the paired bootstrap over test images, which test images it
classifies right. A record keeps both with the run's settings, in one JSON file of a few tens
of kilobytes (the per-image answers as a bit string). Runs trained on different machines or
days then join one table: a seed whose run folder is gone is read from its record, and a
record only stands in for a run trained with the same settings (paths aside).
"""

from __future__ import annotations

import base64
import os

import numpy as np

from lsg_tf import run_io

RECORDS_DIR = "runs"  # beside a table's README.md
RECORD_VERSION = 1

# Settings that say where a run lives or how it printed, not what it trained.
_NOT_SETTINGS = ("output_dir", "cache_dir", "data_dir", "export_dir", "export_name", "verbose",
                 "strategy", "num_cpu_replicas", "validation_freq")


class RecordMismatch(ValueError):
    """A record that was trained with other settings than the run it would stand in for."""


def record_path(records_dir: str, name: str) -> str:
    return os.path.join(records_dir, f"{name}.json")


def write_record(path: str, config: dict, metrics: dict, correct=None) -> None:
    """Writes (atomically) the record of a run: ``config`` and ``metrics`` as the run folder
    has them and ``correct``, bool ``[N]`` (which test images it classifies right), or None."""
    record = {"version": RECORD_VERSION, "config": config, "metrics": metrics}
    if correct is not None:
        correct = np.asarray(correct, dtype=bool).ravel()
        record["test_correct"] = {
            "num_images": int(correct.size),
            "bits": base64.b64encode(np.packbits(correct).tobytes()).decode("ascii")}
    run_io.write_json(path, record)


def read_record(path: str) -> dict:
    """``{"config", "metrics", "correct"}`` of a record (``correct`` None if it has none).

    Raises:
        lsg_tf.run_io.RunIOError: an unreadable record, named, with what to do.
    """
    redo = "delete it to train that run again"
    record = run_io.read_json(path, redo)
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        raise run_io.RunIOError(f"{path}: not a run record of version {RECORD_VERSION}: {redo}")
    correct = None
    if "test_correct" in record:
        answers = record["test_correct"]
        try:
            bits = np.frombuffer(base64.b64decode(answers["bits"], validate=True), np.uint8)
            correct = np.unpackbits(bits, count=int(answers["num_images"])).astype(bool)
        except (KeyError, TypeError, ValueError) as error:
            raise run_io.RunIOError(f"{path}: corrupt test_correct ({error}): {redo}") from None
    return {"config": record["config"], "metrics": record["metrics"], "correct": correct}


def check_same_settings(record_config: dict, config: dict, path: str) -> None:
    """Refuses (RecordMismatch naming the first differing setting) a record trained otherwise
    than ``config`` (both as ``dataclasses.asdict`` of a TrainConfig); paths are ignored."""
    record_config, config = run_io.jsonable(record_config), run_io.jsonable(config)
    for key in sorted(set(record_config) | set(config)):
        if key in _NOT_SETTINGS:
            continue
        old, new = record_config.get(key, "<absent>"), config.get(key, "<absent>")
        if old != new:
            raise RecordMismatch(
                f"{path} records a run with {key}={old!r}, now {key}={new!r}: delete the "
                f"record to train the run with the current settings, or use another --out")
