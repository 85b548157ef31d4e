"""Training runs end to end on a tiny real subset of Fashion-MNIST."""

import dataclasses
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import ROOT, needs_fashion

from lsg_tf import load_model, run_io
from lsg_tf.training.train_lib import TrainConfig, train


def _tiny_config(output_dir, **overrides):
    # 3 epochs, period 2 / phase 1: epochs 0 and 2 train the STD path, epoch 1 the LSG path.
    values = dict(output_dir=str(output_dir), dataset="fashion_mnist", train_subset=256,
                  test_subset=100, epochs=3, batch_size=64, period=2, phase=1,
                  lr_schedule="cosine", weight_decay=5e-5, verbose=0)
    values.update(overrides)
    return TrainConfig(**values)


class _Interrupt(Exception):
    pass


class _InterruptAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise _Interrupt()


@needs_fashion
def test_resume_after_interruption_reproduces_uninterrupted_run(tmp_path):
    full = train(_tiny_config(tmp_path / "full"))
    interrupted = _tiny_config(tmp_path / "resumed")
    with pytest.raises(_Interrupt):
        train(interrupted, extra_callbacks=[_InterruptAfterEpoch(1)])
    assert not run_io.is_finished(interrupted.output_dir)
    resumed = train(interrupted)

    assert resumed["history"]["epoch"] == [0, 1, 2]
    assert resumed["history"]["path"] == ["std", "lsg", "std"]
    a = run_io.read_run(str(tmp_path / "full"))
    b = run_io.read_run(interrupted.output_dir)
    np.testing.assert_allclose(a.gate, b.gate, atol=1e-6)
    assert not np.allclose(a.gate, 1.0), "the LSG epoch did not train the gate"
    weights_a, weights_b = (load_model(r.model_path).get_weights() for r in (a, b))
    for wa, wb in zip(weights_a, weights_b):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    assert resumed["test/accuracy"] == pytest.approx(full["test/accuracy"], abs=1e-6)
    np.testing.assert_allclose(resumed["history"]["train/loss"], full["history"]["train/loss"],
                               rtol=1e-5)


@needs_fashion
def test_cli_writes_the_run_folder(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "lsg_tf.train", f"--flagfile={ROOT}/fashion.flags",
           "--scheme=alternate", "--train_subset=200", "--test_subset=100", "--epochs=2",
           "--batch_size=50", "--period=2", "--phase=1", "--verbose=0", f"--output_dir={out}",
           f"--export_dir={tmp_path / 'exported'}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test accuracy" in proc.stdout
    assert (tmp_path / "exported" / "run" / "1" / "saved_model.pb").exists()
    assert 'name: "run"' in (tmp_path / "exported" / "models.config").read_text()
    for name in ("flags.txt", "config.json", "metrics.json", "gate.npy", "gate.png",
                 "model.keras", "checkpoints/state.json"):
        assert (out / name).exists(), name
    assert any(f.startswith("events") for _, _, files in os.walk(out / "tensorboard")
               for f in files)
    run = run_io.read_run(str(out))
    assert run.gate.shape == (10, 64)
    np.testing.assert_allclose(run.gate.max(axis=0), 1.0, rtol=1e-6)
    m = run.metrics
    assert 0.0 <= m["test/accuracy"] <= 1.0 and m["test/cross_entropy"] > 0
    assert m["gate_density"] == pytest.approx(float(run.gate.mean()), rel=1e-6)
    assert m["history"]["path"] == ["std", "lsg"]
    for key in ("train/loss", "train/std_ce", "train/lsg_ce", "train/sparsity",
                "train/gate_density", "train/accuracy", "test/accuracy", "test/std_ce"):
        assert len(m["history"][key]) == 2, key
    assert m["wall_time_seconds"] > 0
    # One gated epoch of 4 steps cannot take an all-one gate to the 0.15 target: said loudly.
    # Epoch 1 of 2 is gated (4 steps); an Adam gate at 0.01 needs ceil(0.85 / 0.01) = 85.
    assert m["gate_target"] == {"density": m["gate_density"], "target": 0.15,
                                "tolerance": 0.2, "reached": False, "gated_steps": 4,
                                "steps_needed": 85}
    assert "WARNING: the trained gate's density" in proc.stderr
    flags_text = (out / "flags.txt").read_text()
    assert "--train_subset=200" in flags_text and "--scheme=alternate" in flags_text
    assert "--batch_norm=fused" in flags_text
    model = load_model(run.model_path)
    x = np.zeros((2, 28, 28, 1), "float32")
    assert model.predict(x, verbose=0).shape == (2, 10)
    # The default BatchNorm is the fused layer, and it loads back as itself.
    from lsg_tf.core.batch_norm import FusedBatchNormalization

    bns = [l for l in model.backbone.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(bns) == 19 and all(isinstance(l, FusedBatchNormalization) for l in bns)


def test_cli_rejects_bad_flags():
    cmd = [sys.executable, "-m", "lsg_tf.train", "--output_dir=unused", "--period=2",
           "--phase=2"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "--phase must be smaller than --period" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "lsg_tf.train", "--output_dir=unused",
                           "--scheme=gated"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "scheme" in proc.stderr


@pytest.mark.parametrize("overrides, message", [
    ({"optimizer": "rmsprop"}, "optimizer must be one of"),
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"learning_rate": 0.0}, "learning_rate must be > 0"),
    ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ({"scheme": "both"}, "scheme must be one of"),
    ({"sparsity_form": "l2"}, "sparsity form must be one of"),
    ({"lr_schedule": "linear"}, "lr_schedule must be one of"),
    ({"batch_norm": "sync"}, "batch_norm must be one of"),
    ({"crop_padding": "edge"}, r"crop_padding must be one of \('zeros', 'reflect'\)"),
    ({"shortcut": "c"}, r"shortcut must be one of \('a', 'b'\)"),
    ({"period_unit": "batch"}, r"unit must be one of \('epoch', 'step'\)"),
])
def test_config_rejects_bad_values(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        _tiny_config(tmp_path, **overrides)


def test_resume_with_different_settings_is_refused(tmp_path):
    config = _tiny_config(tmp_path)
    run_io.write_json(str(tmp_path / run_io.CONFIG_FILE),
                      dataclasses.asdict(dataclasses.replace(config, lsg_weight=2.0)))
    # Settings bind a folder once an epoch has completed (a checkpoint exists).
    run_io.write_json(str(tmp_path / run_io.CHECKPOINT_DIR / run_io.STATE_FILE),
                      {"epoch": 0, "weights": "epoch-0000.weights.h5", "history": {},
                       "wall_time": 1.0})
    with pytest.raises(ValueError, match=r"holds a run with lsg_weight=2.0, now lsg_weight=1.0"):
        train(config)


def test_a_std_run_is_not_bound_by_the_lsg_schedule_fields(tmp_path):
    config = _tiny_config(tmp_path, scheme="std")
    run_io.write_json(str(tmp_path / run_io.CONFIG_FILE), dataclasses.asdict(
        dataclasses.replace(config, phase=0, warmup_epochs=1, lsg_weight=0.5)))
    run_io.write_json(str(tmp_path / run_io.CHECKPOINT_DIR / run_io.STATE_FILE),
                      {"epoch": 0, "weights": "epoch-0000.weights.h5", "history": {},
                       "wall_time": 1.0})
    from lsg_tf.training.train_lib import _check_resumable

    _check_resumable(str(tmp_path), config)  # the same STD run: accepted
    with pytest.raises(ValueError, match=r"holds a run with scheme='std', now scheme='alternate'"):
        _check_resumable(str(tmp_path), dataclasses.replace(config, scheme="alternate"))


def test_settings_of_a_folder_without_a_completed_epoch_do_not_bind(tmp_path):
    config = _tiny_config(tmp_path, epochs=1)
    run_io.write_json(str(tmp_path / run_io.CONFIG_FILE),
                      dataclasses.asdict(dataclasses.replace(config, lsg_weight=2.0)))
    assert train(config)["epochs"] == 1
    assert run_io.read_json(str(tmp_path / run_io.CONFIG_FILE))["lsg_weight"] == 1.0
