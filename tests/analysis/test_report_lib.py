import json
import os

import keras
import numpy as np
import pytest
from conftest import tiny_backbone

from lsg_tf import run_io
from lsg_tf.analysis import report_lib
from lsg_tf.core.model import LSGModel


def _test_data(n_per_class=8, num_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), n_per_class).astype(np.int32)
    images = rng.integers(0, 256, (len(labels), 8, 8, 1)).astype(np.uint8)
    images[labels == 1, :4] //= 4  # some class structure
    return report_lib.TestData(images=images, labels=labels, class_names=("a", "b", "c"),
                               spec={"dataset": "toy", "test_subset": None, "seed": 0})


_FAST = report_lib.ReportOptions(phi_steps=20, mask_classes=((0,), (0, 2)), m=2,
                                 mis_max_examples=None)


def test_analyse_model_of_an_std_model_uses_the_phi_gate():
    model = LSGModel(tiny_backbone(filters=6), 3)
    test = _test_data()
    result = report_lib.analyse_model(model, test, np.ones((3, 6)), False, _FAST, log=lambda m: 0)
    np.testing.assert_array_equal(result.analysis_gate, result.phi.gate)
    assert result.table1.l1_norm == result.phi.density
    assert result.table1.trained_gate_density == 1.0
    assert 0 <= result.table1.accuracy <= 1
    assert result.correlation.shape == (6, 6) and result.dominant_filters.shape == (3, 2)
    assert [m.classes for m in result.masking] == [[0], [0, 2]]
    assert result.timing["phi_to_inference_ratio"] > 1.0
    assert len(result.redundancy) == len(_FAST.redundancy_thresholds)


def test_analyse_model_of_a_gated_model_uses_its_trained_gate():
    model = LSGModel(tiny_backbone(filters=6), 3)
    gate = np.tile(np.eye(3), (1, 2)).astype(np.float32)
    result = report_lib.analyse_model(model, _test_data(), gate, True, _FAST, log=lambda m: 0)
    np.testing.assert_array_equal(result.analysis_gate, gate)
    assert result.table1.l1_norm == pytest.approx(1 / 3)
    np.testing.assert_array_equal(result.filters_per_class.per_class, [2, 2, 2])


def test_analyse_model_rejects_data_with_other_classes():
    model = LSGModel(tiny_backbone(filters=6), 4)
    with pytest.raises(ValueError, match="has 4 classes, the test data 'toy' has 3"):
        report_lib.analyse_model(model, _test_data(), np.ones((4, 6)), False, _FAST,
                                 log=lambda m: 0)


def test_analyse_model_rejects_mask_classes_outside_the_dataset():
    model = LSGModel(tiny_backbone(filters=6), 3)
    options = report_lib.ReportOptions(mask_classes=((0,), (0, 5)))
    with pytest.raises(ValueError, match=r"mask_classes name classes \[5\] outside \[0, 3\)"):
        report_lib.analyse_model(model, _test_data(), np.ones((3, 6)), False, options,
                                 log=lambda m: 0)


def test_write_report_writes_markdown_json_and_figures(tmp_path):
    test = _test_data()
    runs = []
    for name, gate_trained in (("std", False), ("lsg", True)):
        model = LSGModel(tiny_backbone(filters=6, seed=len(runs)), 3)
        gate = np.tile(np.eye(3), (1, 2)).astype(np.float32) if gate_trained else np.ones((3, 6))
        run = report_lib.analyse_model(model, test, gate, gate_trained, _FAST, name,
                                       log=lambda m: 0)
        run.scheme, run.config = ("alternate" if gate_trained else "std"), {"epochs": 1}
        runs.append(run)
    report = report_lib.Report(runs=runs, data=test, options=_FAST)
    paths = report_lib.write_report(report, str(tmp_path / "out"), "python -m lsg_tf.report ...")
    for key, name in report_lib.FIGURES.items():
        assert os.path.getsize(paths[key]) > 1000, name
        with open(paths[key], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    text = open(paths["report"]).read()
    assert "| metric | std | lsg | paper LSG ResNet20 | paper STD ResNet20 |" in text
    assert "0.9062" in text and "0.1648" in text
    assert "## The paper's claims, each gated run against `std`" in text
    verdict = "yes" if runs[1].phi.phi < runs[0].phi.phi else "no"
    assert f"| Φ below the STD run's (Table 1) | {verdict}: " in text
    for name in report_lib.FIGURES.values():
        assert f"]({name})" in text
    data = json.load(open(paths["json"]))
    assert [r["name"] for r in data["runs"]] == ["std", "lsg"]
    assert data["runs"][1]["table1"]["l1_norm"] == pytest.approx(1 / 3, rel=1e-5)
    assert data["runs"][0]["table1"]["phi"] == pytest.approx(runs[0].phi.phi, rel=1e-5)
    assert len(data["runs"][0]["correlation"]) == 6
    assert data["data"]["num_images"] == 24


def test_a_backbone_without_filter_weights_reports_c_ic_as_na(tmp_path):
    inputs = keras.Input((8, 8, 1))
    maps = keras.layers.Concatenate()([keras.layers.AveragePooling2D(2)(inputs)] * 6)
    model = LSGModel(keras.Model(inputs, maps, name="no_kernels"), 3)
    messages = []
    run = report_lib.analyse_model(model, _test_data(), np.ones((3, 6)), False, _FAST,
                                   "nofilters", log=messages.append)
    assert any("C_IC are n/a" in m for m in messages)
    assert np.isnan(run.c_ic) and np.isnan(run.redundancy).all()
    assert np.isnan(run.correlation).all() and run.correlation.shape == (6, 6)
    assert all(np.isnan(v) for v in run.c_ic_variants.values())
    run.scheme, run.config = "std", {"epochs": 1}
    report = report_lib.Report(runs=[run], data=_test_data(), options=_FAST)
    paths = report_lib.write_report(report, str(tmp_path / "out"), "python -m lsg_tf.report ...")
    text = open(paths["report"]).read()
    assert "C_IC and redundancy are n/a for `nofilters`" in text
    assert "| C_IC | — |" in text
    data = json.load(open(paths["json"]))
    assert data["runs"][0]["c_ic"] is None
    assert set(data["runs"][0]["c_ic_variants"].values()) == {None}


def test_dump_json_keeps_values_and_writes_number_lists_on_one_line():
    data = {"a": [1, 2.5, None], "b": {"m": [[1, -2e-07], [3, 4]]}, "s": ["x", "y"]}
    text = report_lib.dump_json(data)
    assert json.loads(text) == data
    assert "[1, 2.5, null]" in text and "[1, -2e-07]" in text


def _fake_run(path, **config):
    os.makedirs(path)
    run_io.write_json(os.path.join(path, run_io.CONFIG_FILE),
                      {"dataset": "fashion_mnist", "scheme": "std", **config})
    run_io.write_json(os.path.join(path, run_io.METRICS_FILE), {})
    run_io.save_gate(str(path), np.ones((2, 2)))
    open(os.path.join(path, run_io.MODEL_FILE), "w").close()


def test_analyse_runs_rejects_bad_names_and_mixed_datasets(tmp_path):
    _fake_run(tmp_path / "a")
    _fake_run(tmp_path / "b", dataset="cifar10")
    runs = [str(tmp_path / "a"), str(tmp_path / "b")]
    with pytest.raises(ValueError, match="got 1 names for 2 runs"):
        report_lib.analyse_runs(runs, names=["x"])
    with pytest.raises(ValueError, match="run names must be unique"):
        report_lib.analyse_runs(runs, names=["x", "x"])
    with pytest.raises(ValueError, match="run 'b' was trained on dataset='cifar10'"):
        report_lib.analyse_runs(runs)
    with pytest.raises(FileNotFoundError, match="not a finished lsg_tf run folder"):
        report_lib.analyse_runs([str(tmp_path)])
    with pytest.raises(ValueError, match="need at least one run folder"):
        report_lib.analyse_runs([])


def test_data_spec_takes_the_run_config_and_overrides():
    config = {"dataset": "image_folder", "data_dir": "d", "image_size": 32, "test_subset": 100,
              "seed": 3}
    spec = report_lib.data_spec(config)
    assert spec == {"dataset": "image_folder", "data_dir": "d", "cache_dir": None,
                    "image_size": 32, "test_subset": 100, "seed": 3}
    assert report_lib.data_spec(config, test_subset=10, data_dir="e")["test_subset"] == 10
    assert report_lib.data_spec(config, data_dir="e")["data_dir"] == "e"


def test_report_options_reject_bad_values():
    with pytest.raises(ValueError, match="mask_classes must be non-empty"):
        report_lib.ReportOptions(mask_classes=((),))
    with pytest.raises(ValueError, match=r"mask_threshold must be in \[0, 1\)"):
        report_lib.ReportOptions(mask_threshold=1.0)
    with pytest.raises(ValueError, match="m must be an integer >= 1"):
        report_lib.ReportOptions(m=0)
