"""evaluate_runs on hand-written run folders (tiny models, a synthetic image-folder data set)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_backbone

from lsg_tf import run_io
from lsg_tf.core.model import LSGModel
from lsg_tf.robustness import attack_report, evaluate
from lsg_tf.robustness.protocol import DetectionProtocol


def write_image_folder(root, per_class=(12, 8), classes=3, size=8, seed=0):
    """<root>/{train,test}/c<k>/<i>.png: gray images, class k a bright square in its own place."""
    rng = np.random.default_rng(seed)
    corners = [(0, 0), (0, size // 2), (size // 2, size // 4)]
    for split, n in zip(("train", "test"), per_class):
        for c in range(classes):
            folder = os.path.join(root, split, f"c{c}")
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                image = rng.integers(0, 40, (size, size, 1)).astype(np.uint8)
                r, k = corners[c]
                image[r:r + size // 2, k:k + size // 2] = 200
                tf.io.write_file(os.path.join(folder, f"{i}.png"), tf.io.encode_png(image))
    return str(root)


def write_run(run_dir, data_dir, scheme="std", classes=3, size=8, seed=0, dataset="image_folder"):
    """A finished run folder around an untrained tiny LSGModel."""
    model = LSGModel(tiny_backbone((size, size, 1), filters=4, seed=seed), classes,
                     input_mean=[0.3], input_std=[0.3])
    os.makedirs(run_dir, exist_ok=True)
    run_io.write_json(os.path.join(run_dir, run_io.CONFIG_FILE),
                      {"dataset": dataset, "data_dir": data_dir, "image_size": None,
                       "scheme": scheme})
    run_io.write_json(os.path.join(run_dir, run_io.METRICS_FILE),
                      {"test/accuracy": 0.5, "gate_density": 1.0})
    run_io.save_gate(run_dir, np.ones((classes, 4), np.float32))
    run_io.save_model(run_dir, model)
    return str(run_dir)


def _small_config(**overrides):
    values = dict(
        attacks=("pgd", "pixel", "local_search"), detect=True,
        pgd=evaluate.PGDConfig(eps=0.1, eps_step=0.05, max_iter=3),
        detection=DetectionProtocol(train_per_class=(2, 4), test_per_class=2, repeats=2,
                                    n_estimators=10, baselines=()),
        pixel=evaluate.PixelConfig(images=6, max_iter=2, population=20),
        local_search=evaluate.LocalSearchConfig(images=6, rounds=2),
        examples=2)
    values.update(overrides)
    return evaluate.AttackEvalConfig(**values)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    data_dir = write_image_folder(root / "data")
    return (write_run(root / "std", data_dir, "std", seed=0),
            write_run(root / "lsg", data_dir, "alternate", seed=1))


def test_evaluate_runs_uses_the_same_images_and_targets_for_every_run(two_runs):
    results = evaluate.evaluate_runs(list(two_runs), _small_config(), progress=False)
    std, lsg = results["runs"]
    assert (std["label"], lsg["label"]) == ("STD", "LSG-alternate (lsg)")
    perm = results["data"]["target_permutation"]
    assert sorted(perm) == [0, 1, 2] and all(p != i for i, p in enumerate(perm))
    for attack in ("pixel", "local_search"):
        assert std[attack]["per_image"]["index"] == lsg[attack]["per_image"]["index"]
        assert std[attack]["per_image"]["label"] == lsg[attack]["per_image"]["label"]
        assert len(std[attack]["per_image"]["index"]) == 6
        assert std[attack]["attempts"] == sum(std[attack]["per_image"]["attempted"])
    # detection pool: 6 test images per class, drawn once, attacked by both runs
    pool = results["data"]["pgd_pool_index"]
    assert len(pool) == len(set(pool)) == 18
    assert [e["eps"] for e in std["sweep"]] == [0.1]
    assert std["sweep"][0]["pgd"]["images"] == lsg["sweep"][0]["pgd"]["images"] == 18
    assert std["sweep"][0]["pgd"]["max_linf"] <= 0.1 + 1e-6
    for r in (std, lsg):
        detection = r["sweep"][0]["detection"]
        assert set(detection["mean_auc"]) == {2, 4}
        assert all(0 <= a <= 1 for aucs in detection["auc"].values() for a in aucs)
        assert 0 <= r["clean_accuracy"] <= 1
        assert r["seconds"]["total"] > 0
    assert results["data"]["accuracy_images"] == 24


def test_report_writes_tables_json_and_figures(two_runs, tmp_path):
    results = evaluate.evaluate_runs(list(two_runs), _small_config(), progress=False)
    paths = attack_report.write_report(results, str(tmp_path),
                                       command="python -m lsg_tf.attack_eval")
    for key in ("markdown", "json", "examples", "roc"):
        assert os.path.getsize(paths[key]) > 0
    text = open(paths["markdown"]).read()
    assert "## Table 4: detection AUC (%)" in text and "## Table 5: black-box attacks" in text
    assert "| ε | run | AUC, 2 per class | AUC, 4 per class | PGD target reached (%) |" in text
    assert "| No Attack | Accuracy |" in text and "| Single Pixel Attack |" in text
    assert "| Local Search Attack |" in text
    with open(paths["json"]) as f:
        payload = json.load(f)  # strict JSON: would fail on NaN
    assert "arrays" not in payload["runs"][0]
    assert payload["runs"][0]["sweep"][0]["detection"]["mean_auc"].keys() == {"2", "4"}
    assert "data_dir" not in payload["config"]
    expected = {"accuracy", "detection_auc"} | {
        a for a in ("pixel", "local_search")
        if all(r[a]["attempts"] for r in payload["runs"])}  # a rate needs attempts
    assert {c["metric"] for c in payload["comparisons"]} == expected
    assert "## Table 4: detection AUC (%) across ε" in text and "Paper-like ε" in text
    assert os.path.getsize(paths["sweep"]) > 0


def test_evaluate_runs_sweeps_eps_on_one_pool_and_compares_every_lsg_run_to_std(two_runs):
    config = _small_config(pgd=evaluate.PGDConfig(eps=(0.02, 0.2), max_iter=3),
                           attacks=("pgd",),
                           detection=DetectionProtocol(train_per_class=(2, 4), test_per_class=2,
                                                       repeats=2, n_estimators=10))
    results = evaluate.evaluate_runs(list(two_runs), config, progress=False)
    std, lsg = results["runs"]
    assert [e["eps"] for e in std["sweep"]] == [0.02, 0.2]
    for e in std["sweep"]:
        assert e["pgd"]["max_linf"] <= e["eps"] + 1e-6
        assert e["eps_step"] == pytest.approx(2.5 * e["eps"] / 3)  # scaled with ε
    assert results["config"]["pgd"]["eps"] == [0.02, 0.2]
    # the same detector test images for both runs: one score array per repeat and size
    for k in range(2):
        for size in (2, 4):
            assert len(std["arrays"]["detection_scores"][k][size]) == 2  # repeats
            assert len(std["arrays"]["detection_scores"][k][size][0]) == 2 * 2 * 3
    auc = [c for c in results["comparisons"] if c["metric"] == "detection_auc"]
    assert {(c["eps"], c["train_per_class"]) for c in auc} == {(0.02, 2), (0.02, 4),
                                                              (0.2, 2), (0.2, 4)}
    for c in auc:
        assert (c["run"], c["baseline"], c["claim"]) == ("lsg", "std", "higher")
        assert c["difference"] == pytest.approx(c["lsg"] - c["std"])
        assert c["low"] <= c["difference"] <= c["high"]
    # the baselines on the same splits: each AUC with its interval, each LSG − STD difference
    for e in std["sweep"]:
        detectors = e["detection"]["detectors"]
        assert list(detectors) == ["random_forest", "mahalanobis", "lid", "kd_bu"]
        assert detectors["random_forest"]["mean_auc"] == e["detection"]["mean_auc"]
        for detected in detectors.values():
            for size in (2, 4):
                low, high = detected["interval"][size]
                assert 0 <= low <= detected["mean_auc"][size] <= high <= 1
    baseline_auc = [c for c in results["comparisons"] if c["metric"] == "detection_auc_baseline"]
    assert {(c["detector"], c["eps"], c["train_per_class"]) for c in baseline_auc} == {
        (d, e, n) for d in ("mahalanobis", "lid", "kd_bu") for e in (0.02, 0.2) for n in (2, 4)}
    for c in baseline_auc:
        assert c["difference"] == pytest.approx(c["lsg"] - c["std"])
        assert c["low"] <= c["difference"] <= c["high"]
    assert "| 51/255 | KD + BU | LSG-alternate (lsg) |" in attack_report.markdown(results)
    payload = json.loads(json.dumps(attack_report.results_to_json(results), allow_nan=False))
    assert len(payload["runs"][0]["sweep"][1]["detection"]["detectors"]["lid"]["interval"]
               ["4"]) == 2
    accuracy = next(c for c in results["comparisons"] if c["metric"] == "accuracy")
    assert accuracy["difference"] == pytest.approx(lsg["clean_accuracy"] - std["clean_accuracy"])


def test_pgd_config_scales_the_step_with_eps_unless_a_step_is_given():
    config = evaluate.PGDConfig(eps=(1 / 255, 0.3), max_iter=10)
    assert config.step(0.3) == pytest.approx(0.075)
    assert config.step(1 / 255) == pytest.approx(0.25 / 255)
    assert evaluate.PGDConfig(eps=0.3, eps_step=0.01).step(0.3) == 0.01
    assert evaluate.PGDConfig().eps == (1 / 255, 2 / 255, 4 / 255, 8 / 255, 0.3)
    with pytest.raises(ValueError, match="lists a radius twice"):
        evaluate.PGDConfig(eps=(0.1, 0.1))


def test_evaluate_runs_rejects_runs_of_different_data_sets(two_runs, tmp_path):
    other = write_image_folder(tmp_path / "other", seed=1)
    odd = write_run(tmp_path / "odd", other, "std")
    with pytest.raises(ValueError, match="runs must share one data set"):
        evaluate.evaluate_runs([two_runs[0], odd], _small_config(), progress=False)


def test_evaluate_runs_rejects_a_model_that_does_not_fit_the_data(two_runs, tmp_path):
    data_dir = run_io.read_run(two_runs[0]).config["data_dir"]
    wide = write_run(tmp_path / "wide", data_dir, "std", classes=4)
    with pytest.raises(ValueError, match="run 'wide': model takes images .* with 4 classes"):
        evaluate.evaluate_runs([wide], _small_config(), progress=False)


def test_evaluate_runs_rejects_missing_and_duplicate_runs(two_runs, tmp_path):
    with pytest.raises(ValueError, match="run_dirs is empty"):
        evaluate.evaluate_runs([], _small_config())
    with pytest.raises(ValueError, match="names must be distinct"):
        evaluate.evaluate_runs([two_runs[0], two_runs[0]], _small_config())
    with pytest.raises(FileNotFoundError, match="not a finished lsg_tf run folder"):
        evaluate.evaluate_runs([str(tmp_path)], _small_config())


@pytest.mark.parametrize("kwargs, message", [
    ({"attacks": ("pgd", "cw")}, r"unknown attack\(s\) \['cw'\]"),
    ({"attacks": ("pgd", "pgd")}, "lists an attack twice"),
    ({"detection_split": "val"}, "detection_split must be one of"),
    ({"accuracy_images": 0}, "accuracy_images must be an integer >= 1"),
    ({"examples": -1}, "examples must be an integer >= 0"),
])
def test_attack_eval_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate.AttackEvalConfig(**kwargs)


@pytest.mark.parametrize("make, message", [
    (lambda: evaluate.PGDConfig(eps=0), r"pgd eps and eps_step must be in \(0, 1\]"),
    (lambda: evaluate.PGDConfig(eps=5), r"pgd eps and eps_step must be in \(0, 1\]"),
    (lambda: evaluate.PGDConfig(eps=(0.1, float("inf"))), r"eps_step must be in \(0, 1\]"),
    (lambda: evaluate.PGDConfig(eps=0.1, eps_step=float("nan")), r"must be in \(0, 1\]"),
    (lambda: evaluate.PGDConfig(eps=0.1, eps_step=2), r"must be in \(0, 1\]"),
    (lambda: evaluate.PixelConfig(population=0), "pixel population must be an integer >= 1"),
    (lambda: evaluate.LocalSearchConfig(r=3.0), r"r \(cyclic perturbation\) must be in"),
    (lambda: evaluate.LocalSearchConfig(images=0), "local_search images must be an integer"),
])
def test_part_configs_reject_bad_values(make, message):
    with pytest.raises(ValueError, match=message):
        make()
