"""tools.add_seed_numbers: MIS and C_IC added to a run afterwards equal what the end of
training records, and runs it cannot complete are refused."""

import json
import os
import subprocess
import sys

import pytest

from lsg_tf import run_io
from lsg_tf.training.train_lib import TrainConfig, train
from tools.add_seed_numbers import add_seed_numbers


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("run"))
    train(TrainConfig(output_dir=run_dir, dataset="fashion_mnist", train_subset=256,
                      test_subset=100, epochs=1, batch_size=64, scheme="joint", verbose=0))
    return run_dir


def _metrics(run_dir):
    return json.load(open(os.path.join(run_dir, run_io.METRICS_FILE)))


def test_added_numbers_equal_the_ones_training_recorded(finished_run):
    recorded = _metrics(finished_run)
    older = {k: v for k, v in recorded.items() if k not in ("mis", "c_ic")}
    run_io.write_json(os.path.join(finished_run, run_io.METRICS_FILE), older)
    assert add_seed_numbers(finished_run)
    added = _metrics(finished_run)
    assert added["mis"]["mis"] == pytest.approx(recorded["mis"]["mis"], rel=1e-5)
    assert added["mis"]["num_examples"] == recorded["mis"]["num_examples"] == 100
    assert added["c_ic"] == pytest.approx(recorded["c_ic"], rel=1e-5)
    assert added["seed_numbers_added"] is True
    assert {k: v for k, v in added.items()
            if k not in ("mis", "c_ic", "seed_numbers_added")} == older
    # Already there: kept, the file untouched.
    stamp = os.path.getmtime(os.path.join(finished_run, run_io.METRICS_FILE))
    assert not add_seed_numbers(finished_run)
    assert os.path.getmtime(os.path.join(finished_run, run_io.METRICS_FILE)) == stamp


def test_a_run_scored_on_validation_data_is_refused(finished_run, tmp_path):
    metrics = {k: v for k, v in _metrics(finished_run).items() if k != "mis"}
    copy = tmp_path / "validation-run"
    copy.mkdir()
    run_io.write_json(str(copy / run_io.METRICS_FILE), {**metrics, "evaluated_on": "validation"})
    with pytest.raises(ValueError, match="scored on validation data"):
        add_seed_numbers(str(copy))


def test_the_cli_names_a_folder_that_is_not_a_finished_run(tmp_path):
    from conftest import ROOT

    result = subprocess.run([sys.executable, "-m", "tools.add_seed_numbers",
                             f"--run={tmp_path / 'absent'}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "absent: does not exist, so it is not a finished lsg_tf run" in result.stderr
