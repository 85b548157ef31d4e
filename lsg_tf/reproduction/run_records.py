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
import json
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


# --------------------------------------------------- run folders, or their records in their stead
def record_of(records_dir: str, run_dir: str) -> str:
    """The record of run folder ``run_dir`` in ``records_dir`` (named as the folder)."""
    return record_path(records_dir, os.path.basename(os.path.normpath(run_dir)))


def is_recorded(records_dir: str | None, run_dir: str, config=None) -> bool:
    """Whether ``records_dir`` holds the record of ``run_dir``; with ``config`` (the run's
    TrainConfig), refuses (RecordMismatch) a record trained with other settings."""
    if not records_dir or not os.path.exists(record_of(records_dir, run_dir)):
        return False
    if config is not None:
        import dataclasses

        path = record_of(records_dir, run_dir)
        check_same_settings(read_record(path)["config"], dataclasses.asdict(config), path)
    return True


def is_available(records_dir: str | None, run_dir: str) -> bool:
    """A finished run folder, or the record of one."""
    return run_io.is_finished(run_dir) or is_recorded(records_dir, run_dir)


def save_records(run_dirs: dict, records_dir: str, progress: bool = True) -> None:
    """Records every finished folder of ``run_dirs`` (``{key: run folder}``) whose record is
    missing or holds other metrics (one prediction of the test set per run recorded)."""
    from lsg_tf.analysis.correctness import correct_per_image

    todo = {}
    for key, run_dir in run_dirs.items():
        if not run_io.is_finished(run_dir):
            continue
        path = record_of(records_dir, run_dir)
        metrics = run_io.read_json(os.path.join(run_dir, run_io.METRICS_FILE))
        if not os.path.exists(path) or not _same(read_record(path)["metrics"], metrics):
            todo[key] = run_dir
    for key, answer in correct_per_image(todo, progress).items():
        run = run_io.read_run(todo[key])
        write_record(record_of(records_dir, todo[key]), run.config, run.metrics, answer)


def run_metrics(run_dir: str, records_dir: str | None = None) -> dict:
    """``metrics.json`` of a finished run folder, else of its record in ``records_dir``."""
    if run_io.is_finished(run_dir) or not is_recorded(records_dir, run_dir):
        return run_io.read_json(os.path.join(run_dir, run_io.METRICS_FILE))
    return read_record(record_of(records_dir, run_dir))["metrics"]


def run_answers(run_dirs: dict, records_dir: str | None = None, progress: bool = True) -> dict:
    """``{key: bool [N]}``, which test images each run classifies right: from its record when
    the record holds the run's current metrics (or the folder is gone), else predicted anew."""
    from lsg_tf.analysis.correctness import correct_per_image

    answers, todo = {}, {}
    for key, run_dir in run_dirs.items():
        if is_recorded(records_dir, run_dir):
            record = read_record(record_of(records_dir, run_dir))
            current = (not run_io.is_finished(run_dir) or _same(record["metrics"], run_io.read_json(
                os.path.join(run_dir, run_io.METRICS_FILE))))
            if current and record["correct"] is not None:
                answers[key] = record["correct"]
                continue
        todo[key] = run_dir
    answers.update(correct_per_image(todo, progress))
    return answers


def _same(a: dict, b: dict) -> bool:
    """Equal JSON values (NaN equal to NaN, as written)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
