"""Unusable paths and corrupt run files give the CLIs a one-line ``error: ...`` naming the path,
before any work, with nothing written (lsg_tf.train, lsg_tf.export, lsg_tf.report)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from lsg_tf import run_io


def _cli(verb, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", f"lsg_tf.{verb}", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def _one_error_line(proc) -> str:
    """The error line; TensorFlow's start-up lines may come before it, nothing else."""
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and sum(line.startswith("error") for line in lines) == 1
    return lines[-1]


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("not a folder\n")
    return path


def _run_folder(folder, metrics_text):
    """A run folder whose files exist; only config.json, metrics.json and gate.npy are real."""
    folder.mkdir()
    run_io.write_json(str(folder / run_io.CONFIG_FILE), {"dataset": "image_folder"})
    (folder / run_io.METRICS_FILE).write_text(metrics_text)
    run_io.save_gate(str(folder), np.ones((2, 4), np.float32))
    (folder / run_io.MODEL_FILE).write_bytes(b"")
    return folder


def test_train_output_dir_that_is_a_file(tmp_path, a_file):
    # A missing data folder: the output folder must be checked first.
    line = _one_error_line(_cli(
        "train", f"--output_dir={a_file}", "--dataset=image_folder",
        f"--data_dir={tmp_path / 'missing'}", "--epochs=1", "--export_dir="))
    assert line == (f"error: output_dir {a_file} is a file, not a folder: give a folder path "
                    f"(an existing folder or a new one)")
    assert sorted(os.listdir(tmp_path)) == ["a_file"]


def test_export_dir_that_is_a_file(tmp_path, a_file):
    line = _one_error_line(_cli("export", f"--run_dir={tmp_path / 'missing'}",
                                f"--export_dir={a_file}"))
    assert line.startswith(f"error: --export_dir {a_file} is a file, not a folder")


def test_report_out_that_is_a_file_is_found_before_the_analysis(tmp_path, a_file):
    line = _one_error_line(_cli("report", f"--run={tmp_path / 'missing'}", f"--out={a_file}"))
    assert line.startswith(f"error: --out {a_file} is a file, not a folder")


def test_report_on_a_truncated_metrics_json_names_it_and_what_to_do(tmp_path):
    text = json.dumps({"test/accuracy": 0.5, "epochs": 1})
    run = _run_folder(tmp_path / "run", text[:len(text) // 2])
    out = tmp_path / "report"
    line = _one_error_line(_cli("report", f"--run={run}", f"--out={out}"))
    assert line.startswith(f"error: {run / 'metrics.json'} is truncated or corrupt (")
    assert "delete it and run the run's training command again" in line
    assert not out.exists()


@pytest.mark.parametrize("verb, extra", [
    ("localize", ["--localization=tiny_imagenet", "--data_dir=."]),
    ("attack_eval", ["--attacks=pgd"]),
])
def test_a_run_that_is_not_a_finished_run_folder_is_named_before_any_work(tmp_path, verb, extra):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / run_io.CONFIG_FILE).write_text("{}")
    out = tmp_path / "out"
    for run, what in ((tmp_path / "missing", "does not exist"),
                      (unfinished, f"has no {run_io.METRICS_FILE}")):
        line = _one_error_line(_cli(verb, f"--run={run}", f"--out={out}", *extra))
        assert line == (f"error: --run={run}: {what}, so it is not a finished lsg_tf run folder "
                        f"(a folder that lsg_tf.train finished)")
    assert not out.exists()


@pytest.mark.parametrize("verb, extra", [
    ("localize", ["--localization=tiny_imagenet", "--data_dir=."]),
    ("attack_eval", ["--attacks=pgd"]),
])
def test_analysis_out_that_is_a_file_is_found_before_any_work(tmp_path, a_file, verb, extra):
    run = _run_folder(tmp_path / "run", "{}")
    line = _one_error_line(_cli(verb, f"--run={run}", f"--out={a_file}", *extra))
    assert line.startswith(f"error: --out {a_file} is a file, not a folder")


@pytest.mark.parametrize("flag", ["--out", "--runs_dir", "--cache_dir"])
def test_reproduce_folders_it_writes_are_checked_before_any_work(tmp_path, a_file, flag):
    line = _one_error_line(_cli("reproduce", f"{flag}={a_file / 'below'}",
                                f"--data_dir={tmp_path}"))
    assert line.startswith(f"error: {flag} {a_file / 'below'} is under {a_file}, which is a file")
    assert sorted(os.listdir(tmp_path)) == ["a_file"]
