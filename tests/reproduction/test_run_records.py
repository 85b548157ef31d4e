"""Run records: a round trip of settings, metrics and per-image answers; bad records refused."""

import json

import numpy as np
import pytest

from lsg_tf import run_io
from lsg_tf.reproduction import run_records


def test_round_trip_keeps_answers_bit_for_bit(tmp_path):
    rng = np.random.default_rng(0)
    correct = rng.random(10_001) < 0.7  # not a multiple of 8: padding must not leak in
    path = str(tmp_path / "runs" / "joint-s1.json")
    run_records.write_record(path, {"seed": 1, "epochs": 3}, {"test/accuracy": 0.5}, correct)
    record = run_records.read_record(path)
    assert record["correct"].dtype == bool and record["correct"].shape == (10_001,)
    np.testing.assert_array_equal(record["correct"], correct)
    assert record["config"] == {"seed": 1, "epochs": 3}
    assert record["metrics"] == {"test/accuracy": 0.5}
    # A bit per image: 10,001 answers take about 1.7 kB of base64.
    assert len(json.loads(open(path).read())["test_correct"]["bits"]) == 4 * -(-1251 // 3)


def test_record_without_answers_reads_as_none(tmp_path):
    path = str(tmp_path / "std-s0.json")
    run_records.write_record(path, {}, {"test/accuracy": 0.9})
    assert run_records.read_record(path)["correct"] is None


@pytest.mark.parametrize("text, message", [
    ("{not json", "std-s0.json"),
    ('{"version": 99, "config": {}, "metrics": {}}', "not a run record of version 1"),
    ('{"version": 1, "config": {}, "metrics": {}, "test_correct": {"num_images": 8, '
     '"bits": "@@"}}', "corrupt test_correct"),
])
def test_bad_records_are_named(tmp_path, text, message):
    path = tmp_path / "std-s0.json"
    path.write_text(text)
    with pytest.raises(run_io.RunIOError, match=message):
        run_records.read_record(str(path))


def test_settings_must_match_but_paths_may_differ():
    recorded = {"epochs": 15, "seed": 0, "output_dir": "/a/std-s0", "data_dir": "/x",
                "learning_rate_boundaries": [1, 2]}
    same = {**recorded, "output_dir": "runs/std-s0", "data_dir": "DATA/cifar10",
            "learning_rate_boundaries": (1, 2)}  # JSON has lists where the config has tuples
    run_records.check_same_settings(recorded, same, "r.json")
    with pytest.raises(run_records.RecordMismatch, match=r"r.json records a run with epochs=15, "
                                                          r"now epochs=30"):
        run_records.check_same_settings(recorded, {**same, "epochs": 30}, "r.json")
    with pytest.raises(run_records.RecordMismatch, match="model='<absent>'"):
        run_records.check_same_settings(recorded, {**same, "model": "vit"}, "r.json")
