"""kill -9 in the middle of a run, under MirroredStrategy, then the same command again."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT, needs_fashion

from lsg_tf import load_model, run_io

# Three MirroredStrategy training processes: ~1-2 min on 2 cores.
pytestmark = [needs_fashion, pytest.mark.slow]


def _command(out):
    # 3 epochs, period 2 / phase 1: std, lsg, std; 2 logical CPU replicas.
    return [sys.executable, "-m", "lsg_tf.train", f"--flagfile={ROOT}/fashion.flags",
            "--scheme=alternate", "--strategy=mirrored", "--num_cpu_replicas=2",
            "--train_subset=512", "--test_subset=64", "--epochs=3", "--batch_size=64",
            "--period=2", "--phase=1", "--verbose=0", "--export_dir=", f"--output_dir={out}"]


def _run(out):
    proc = subprocess.run(_command(out), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_kill_9_then_rerun_matches_uninterrupted_mirrored_run(tmp_path):
    _run(tmp_path / "full")

    out = tmp_path / "killed"
    state = out / "checkpoints" / "state.json"
    proc = subprocess.Popen(_command(out), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if state.exists() and json.loads(state.read_text())["epoch"] >= 0:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(state.read_text())["epoch"]
    assert killed_at < 2 and not run_io.is_finished(str(out))
    _run(out)

    full, resumed = run_io.read_run(str(tmp_path / "full")), run_io.read_run(str(out))
    assert resumed.metrics["history"]["epoch"] == [0, 1, 2]
    assert resumed.metrics["history"]["path"] == ["std", "lsg", "std"]
    np.testing.assert_allclose(resumed.gate, full.gate, atol=1e-6)
    full_weights, resumed_weights = (load_model(r.model_path).get_weights()
                                     for r in (full, resumed))
    for a, b in zip(full_weights, resumed_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert resumed.metrics["test/accuracy"] == pytest.approx(full.metrics["test/accuracy"],
                                                             abs=1e-6)
