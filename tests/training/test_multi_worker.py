"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1 train one run."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, needs_fashion

from lsg_tf import load_model, run_io


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow  # two TensorFlow processes + collectives: ~1-2 min on 2 cores
@needs_fashion
def test_two_workers_finish_with_identical_gate(tmp_path):
    out = tmp_path / "run"
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    cmd = [sys.executable, "-m", "lsg_tf.train", f"--flagfile={ROOT}/fashion.flags",
           "--scheme=alternate", "--strategy=multi_worker", "--train_subset=256",
           "--test_subset=64", "--epochs=2", "--batch_size=64", "--period=2", "--phase=1",
           "--verbose=0", "--export_dir=", f"--output_dir={out}"]
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, results):
        assert p.returncode == 0, err[-3000:]
    chief = run_io.read_run(str(out))
    worker = run_io.read_run(str(out / "workers" / "1"))
    # Each process locked its own folder (neither refused the other), and released it.
    assert not (out / run_io.LOCK_FILE).exists()
    assert not (out / "workers" / "1" / run_io.LOCK_FILE).exists()
    assert chief.metrics["history"]["path"] == ["std", "lsg"]
    assert not np.allclose(chief.gate, 1.0), "the LSG epoch did not train the gate"
    np.testing.assert_array_equal(chief.gate, worker.gate)
    # Trainable weights are all-reduced; BatchNorm moving statistics are not (each
    # worker averages its own batches), as in any Keras MultiWorkerMirroredStrategy run.
    chief_model, worker_model = (load_model(r.model_path) for r in (chief, worker))
    for a, b in zip(chief_model.trainable_weights, worker_model.trainable_weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
