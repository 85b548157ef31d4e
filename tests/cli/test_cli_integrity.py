"""The train CLI never writes a wrong or half-valid run folder: bad flags, failed starts,
refused reruns, reruns of finished runs and diverging training."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT, needs_fashion

TINY = ["--flagfile=fashion.flags", "--train_subset=256", "--test_subset=100", "--epochs=1",
        "--batch_size=64", "--verbose=0"]


def _train(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "lsg_tf.train", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def _snapshot(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


@pytest.mark.parametrize("flag, value", [
    ("learning_rate", "nan"), ("learning_rate", "inf"), ("learning_rate", "-0.1"),
    ("lsg_weight", "nan"), ("lsg_weight", "-1"), ("sparsity_coefficient", "nan"),
    ("sparsity_coefficient", "-inf"), ("density_target", "1.5"), ("density_target", "nan"),
    ("gate_learning_rate", "inf"), ("weight_decay", "nan"), ("lr_warmup_fraction", "1"),
    ("momentum", "1.5"), ("momentum", "x"), ("epochs", "0"), ("epochs", "2.5"),
    ("batch_size", "-4"), ("image_size", "0"), ("period", "0"), ("train_subset", "-3"),
    ("seed", "one"), ("scheme", "both"), ("weight_decay_scope", "bn"), ("augment", "rotate"),
    ("validation_size", "0"),
])
def test_bad_flag_values_exit_with_one_line_naming_the_flag_and_write_nothing(tmp_path, flag,
                                                                             value):
    out = tmp_path / "run"
    proc = _train(f"--output_dir={out}", f"--{flag}={value}", "--export_dir=", timeout=60)
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert f"--{flag}" in lines[0], proc.stderr
    assert len(lines) <= 2, proc.stderr  # the message, and the pointer to --help
    assert not out.exists() or not os.listdir(out)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("finished")
    out, export = base / "run", base / "exported"
    proc = _train(*TINY, f"--output_dir={out}", "--epochs=2", f"--export_dir={export}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, export


@needs_fashion
def test_refused_rerun_leaves_flags_and_config_untouched(finished_run):
    out, export = finished_run
    before = _snapshot(out)
    proc = _train(*TINY, f"--output_dir={out}", "--epochs=2", "--seed=5", f"--export_dir={export}")
    assert proc.returncode != 0
    assert "seed=0" in proc.stderr and "seed=5" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert _snapshot(out) == before


@needs_fashion
def test_rerun_of_finished_run_changes_nothing_and_exports_no_new_version(finished_run):
    out, export = finished_run
    before = _snapshot(out)
    versions = sorted(os.listdir(export / "run"))
    for epochs in ("2", "1"):
        proc = _train(*TINY, f"--output_dir={out}", f"--epochs={epochs}", f"--export_dir={export}")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "already finished" in proc.stdout
    assert _snapshot(out) == before
    assert sorted(os.listdir(export / "run")) == versions == ["1"]


@needs_fashion
def test_failed_start_writes_no_settings_and_the_corrected_command_runs(tmp_path):
    out = tmp_path / "run"
    # 0.05 < 1/C: rejected by the model once the data set (C = 10) is known.
    proc = _train(*TINY, f"--output_dir={out}", "--density_target=0.05", "--export_dir=")
    assert proc.returncode != 0
    assert "density" in proc.stderr.strip().splitlines()[-1]
    assert not (out / "config.json").exists() and not (out / "flags.txt").exists()
    # Without --verbose, output to a pipe gets one line per epoch, no progress-bar updates.
    proc = _train(*[a for a in TINY if a != "--verbose=0"], f"--output_dir={out}", "--export_dir=")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "metrics.json").exists() and (out / "flags.txt").exists()
    assert "4/4 - " in proc.stdout and "\r" not in proc.stdout
    assert "Augmentation: crop_flip" in proc.stdout


@needs_fashion
def test_diverging_training_stops_with_an_error_and_is_never_finished_or_exported(tmp_path):
    out, export = tmp_path / "run", tmp_path / "exported"
    proc = _train(*TINY, f"--output_dir={out}", "--learning_rate=1e30", "--scheme=std",
                  "--weight_decay=0", f"--export_dir={export}")
    assert proc.returncode != 0
    assert "training stopped" in proc.stderr and "not finished" in proc.stderr
    assert not (out / "metrics.json").exists()
    assert not export.exists() or not os.listdir(export)
