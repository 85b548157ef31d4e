"""File-system faults of a training run: unusable folders refused before any work, a full disk
while checkpointing, corrupt checkpoints, and two processes on one run folder."""

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import h5py
import keras
import numpy as np
import pytest
from conftest import ROOT

from lsg_tf import run_io
from lsg_tf.training.run_lock import run_lock
from lsg_tf.training.train_lib import TrainConfig, train


def _image_folder(root, per_class=(8, 4), size=8):
    """<root>/{train,test}/c{0,1}/<i>.png: 8x8 gray images, class c bright in its own half."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in zip(("train", "test"), per_class):
        for c in range(2):
            folder = root / split / f"c{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                image = rng.integers(0, 40, (size, size)).astype(np.uint8)
                image[c * size // 2:(c + 1) * size // 2] = 200
                Image.fromarray(image).save(folder / f"{i}.png")
    return str(root)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return _image_folder(tmp_path_factory.mktemp("faults") / "data")


def _config(output_dir, data_dir, **overrides):
    values = dict(output_dir=str(output_dir), dataset="image_folder", data_dir=str(data_dir),
                  epochs=1, batch_size=8, verbose=0, export_dir="")
    values.update(overrides)
    return TrainConfig(**values)


def _snapshot(folder):
    return {os.path.relpath(os.path.join(r, f), folder): open(os.path.join(r, f), "rb").read()
            for r, _, files in os.walk(folder) for f in files}


def _file(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("not a folder\n")
    return path


# ------------------------------------------------------------------ unusable folders
@pytest.mark.parametrize("field, make, message", [
    ("output_dir", lambda t: _file(t), r"output_dir .*a_file is a file, not a folder"),
    ("output_dir", lambda t: _file(t) / "run", r"output_dir .*run is under .*a_file, which is"),
    ("output_dir", lambda t: "/proc/lsg-run", r"output_dir /proc/lsg-run: cannot write into"),
    ("output_dir", lambda t: "/dev/full", r"output_dir /dev/full is not a folder"),
    ("cache_dir", lambda t: _file(t), r"cache_dir .*a_file is a file, not a folder"),
    ("export_dir", lambda t: _file(t) / "x", r"export_dir .*x is under .*a_file, which is"),
], ids=["file", "under-a-file", "read-only", "device", "cache-file", "export-under-a-file"])
def test_unusable_folders_are_refused_before_the_data_is_read(tmp_path, field, make, message):
    target = make(tmp_path)
    if str(target).startswith("/dev/") and not os.path.exists(target):
        pytest.skip(f"no {target}")
    settings = {"output_dir": str(tmp_path / "run"), field: str(target)}
    before = sorted(os.listdir(tmp_path))
    # The data folder does not exist: an error about it would mean the data came first.
    with pytest.raises(run_io.RunIOError, match=message):
        train(_config(settings.pop("output_dir"), tmp_path / "missing-data", **settings))
    assert sorted(os.listdir(tmp_path)) == before  # nothing written, no probe left


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    locked = tmp_path / "read-only"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(run_io.RunIOError, match=r"cannot write into .*read-only"):
            train(_config(locked / "run", tmp_path / "missing-data"))
        assert os.listdir(locked) == []
    finally:
        locked.chmod(0o755)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_device_is_refused_by_the_folder_check(tmp_path, monkeypatch):
    def on_dev_full(prefix, dir):  # the probe file is /dev/full: writes fail with ENOSPC
        path = os.path.join(dir, prefix + "full")
        os.symlink("/dev/full", path)
        return os.open(path, os.O_WRONLY), path

    monkeypatch.setattr(run_io.tempfile, "mkstemp", on_dev_full)
    with pytest.raises(run_io.RunIOError, match=r"cannot write into .*no space left"):
        run_io.check_writable_folder(str(tmp_path / "run"), "output_dir")
    assert os.listdir(tmp_path) == []


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory, data_dir):
    """A run folder after one epoch of two (interrupted before the second)."""
    out = tmp_path_factory.mktemp("one-epoch") / "run"

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_config(out, data_dir, epochs=2), extra_callbacks=[Stop()])
    assert not (out / run_io.LOCK_FILE).exists()  # released on KeyboardInterrupt too
    return out


# ------------------------------------------------------------------ a full disk
def test_disk_full_while_checkpointing_keeps_the_last_checkpoint_and_resumes(
        tmp_path, one_epoch, data_dir, monkeypatch):
    out = tmp_path / "run"
    shutil.copytree(one_epoch, out)
    config, checkpoints = _config(out, data_dir, epochs=2), out / "checkpoints"
    first_epoch = json.loads((checkpoints / "state.json").read_text())["history"]
    real = run_io.write_bytes

    def fills_the_disk(path, data):  # part of the second epoch's file, then the device is full
        with open(path, "wb") as f:
            f.write(bytes(data[:1000]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_io, "write_bytes", fills_the_disk)
    with pytest.raises(run_io.RunIOError) as error:
        train(config)
    assert str(error.value).startswith(
        f"no space left writing {checkpoints / 'epoch-0001.weights.h5'}")
    assert sorted(os.listdir(checkpoints)) == ["epoch-0000.weights.h5", "state.json"]
    assert json.loads((checkpoints / "state.json").read_text())["epoch"] == 0
    with h5py.File(checkpoints / "epoch-0000.weights.h5", "r") as f:
        assert len(f.keys())
    assert not (out / run_io.LOCK_FILE).exists()

    monkeypatch.setattr(run_io, "write_bytes", real)
    metrics = train(config)  # the same call: resumes at epoch 2
    assert metrics["history"]["epoch"] == [0, 1]
    assert metrics["history"]["epoch_seconds"][0] == first_epoch["epoch_seconds"][0]


_FULL_DEVICE_SCRIPT = textwrap.dedent("""
    import os, sys, tempfile
    import keras
    from lsg_tf import run_io

    run_dir = sys.argv[1]
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(512)])
    run_io.save_checkpoint(run_dir, model, 0, {}, 0.0)

    def on_dev_full(prefix, suffix, dir):  # the next temporary file is /dev/full
        path = os.path.join(dir, prefix + "full" + suffix)
        os.symlink("/dev/full", path)
        return os.open(path, os.O_RDONLY), path

    tempfile.mkstemp = on_dev_full
    os.chmod = lambda path, mode: None  # never change /dev/full's mode
    try:
        run_io.save_checkpoint(run_dir, model, 1, {}, 0.0)
    except run_io.RunIOError as error:
        print(error)
""")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_checkpoint_on_a_full_device_fails_with_an_error_not_a_crash(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _FULL_DEVICE_SCRIPT, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 0, proc.stderr[-2000:]  # HDF5 on the disk: a segfault (139)
    assert proc.stdout.startswith(f"no space left writing {tmp_path}/checkpoints/epoch-0001")
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["epoch-0000.weights.h5",
                                                            "state.json"]


# ------------------------------------------------------------------ corrupt checkpoints
@pytest.mark.parametrize("name, message", [
    ("state.json", r"state.json is truncated or corrupt \(Expecting"),
    ("epoch-0000.weights.h5", r"checkpoint .*epoch-0000.weights.h5 is truncated or corrupt"),
], ids=["state", "weights"])
def test_a_truncated_checkpoint_is_named_with_what_to_do(tmp_path, one_epoch, data_dir, name,
                                                         message):
    out = tmp_path / "run"
    shutil.copytree(one_epoch, out)
    path = out / "checkpoints" / name
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    with pytest.raises(run_io.RunIOError, match=message) as error:
        train(_config(out, data_dir, epochs=2))
    assert str(path) in str(error.value)
    assert f"delete {out / 'checkpoints'} to train the run again from epoch 1" in str(error.value)
    assert "\n" not in str(error.value)


# ------------------------------------------------------------------ the lock
_HOLD_LOCK = ("import sys\nfrom lsg_tf.training.run_lock import run_lock\n"
              "with run_lock(sys.argv[1]):\n    print('locked', flush=True)\n"
              "    sys.stdin.read()\n")


def test_a_second_run_on_the_folder_is_refused_naming_the_owner(tmp_path, one_epoch, data_dir):
    out = tmp_path / "run"
    shutil.copytree(one_epoch, out)
    owner = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(out)], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline() == "locked\n"
        before = _snapshot(out)
        with pytest.raises(run_io.RunIOError) as error:
            train(_config(out, data_dir, epochs=2))
        assert str(error.value).startswith(f"{out} is in use by another training run (pid "
                                           f"{owner.pid} on {socket.gethostname()}")
        assert _snapshot(out) == before
    finally:
        owner.communicate("")
    assert owner.returncode == 0 and not (out / run_io.LOCK_FILE).exists()


def test_a_stale_lock_is_taken_over_and_no_lock_is_left(tmp_path, one_epoch, data_dir, capsys):
    out = tmp_path / "run"
    shutil.copytree(one_epoch, out)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True)
    dead = int(ended.stdout)
    (out / run_io.LOCK_FILE).write_text(json.dumps({"pid": dead, "host": socket.gethostname()}))
    metrics = train(_config(out, data_dir, epochs=2))
    assert metrics["history"]["epoch"] == [0, 1]  # resumed
    assert f"taking over the lock of {out}: its owner (pid {dead} on" in capsys.readouterr().err
    assert not (out / run_io.LOCK_FILE).exists()


def test_a_failed_start_releases_the_lock_and_leaves_no_folder(tmp_path, data_dir):
    out = tmp_path / "new" / "run"
    # 0.05 < 1/C: rejected once the data set (C = 2) is known, with the lock held.
    with pytest.raises(ValueError, match="density"):
        train(_config(out, data_dir, density_target=0.05))
    assert os.listdir(tmp_path) == []


def test_worker_folders_lock_apart_from_the_chief(tmp_path):
    out = tmp_path / "run"
    with run_lock(str(out)):
        with run_lock(str(out / "workers" / "1")):
            assert (out / "workers" / "1" / run_io.LOCK_FILE).exists()
        with pytest.raises(run_io.RunIOError, match=f"{out} is in use .*pid {os.getpid()}"):
            with run_lock(str(out)):
                pass
    assert os.listdir(tmp_path) == []
