"""lsg_tf.robustness.attack_report on a hand-written results dict."""

import json

import numpy as np

from lsg_tf.robustness import attack_report


def _black_box(attempted, success):
    return {"candidates": len(attempted), "attempts": sum(attempted), "successes": sum(success),
            "success_rate": sum(success) / sum(attempted) if sum(attempted) else float("nan"),
            "mean_queries": 10.0, "mean_queries_successful": float("nan"),
            "seconds_per_image": 0.5, "mean_changed_pixels_successful": float("nan"),
            "per_image": {"attempted": attempted, "success": success}}


def _sweep_entry(eps, aucs, hits=90):
    return {"eps": eps, "eps_step": eps / 4,
            "pgd": {"images": 100, "target_hits": hits, "target_hit_rate": hits / 100,
                    "clean_accuracy_on_pool": 0.9, "target_hit_rate_correct": 0.9,
                    "label_changed_rate": 0.95, "mean_linf": eps, "seconds_per_image": 0.1},
            "detection": {"train_per_class": [20, 50], "test_per_class": 50, "repeats": 3,
                          "feature_dim": 688, "mean_auc": {20: aucs[0], 50: aucs[1]},
                          "std_auc": {20: 0.01, 50: 0.02}}}


def _results():
    def run(name, scheme, label, aucs, attempted, success, small_eps_aucs=(0.80, 0.78)):
        roc = {20: (np.array([0, 1]), np.array([0, 1])), 50: (np.array([0, 1]),
                                                             np.array([0, 1]))}
        return {"name": name, "scheme": scheme, "label": label, "run_test_accuracy": 0.9,
                "gate_density": 1.0, "clean_accuracy": 0.875,
                "sweep": [_sweep_entry(2 / 255, small_eps_aucs, hits=40),
                          _sweep_entry(0.3, aucs)],
                "pixel": _black_box(attempted, success),
                "seconds": {"total": 12.0},
                "arrays": {"roc": [roc, roc]}}

    return {
        "config": {"detection": {"n_estimators": 100, "train_per_class": [20, 50],
                                 "test_per_class": 50, "repeats": 3, "pool_size_per_class": 150},
                   "pgd": {"eps": [2 / 255, 0.3], "eps_step": [0.5 / 255, 0.075],
                           "max_iter": 10},
                   "pixel": {"pixels": 1, "population": 400, "max_iter": 10}},
        "data": {"dataset": "fashion_mnist", "image_shape": [28, 28, 1], "num_classes": 10,
                 "class_names": [str(i) for i in range(10)], "accuracy_images": 10000,
                 "pixel_images": 4, "target_permutation": [1, 0], "pgd_pool_images": 100,
                 "pgd_pool_split": "test"},
        "runs": [run("std", "std", "STD", (0.9, 0.95), [True, True, True, False],
                     [True, False, False, False]),
                 run("lsg", "alternate", "LSG-alternate", (0.925, 0.94),
                     [True, False, True, True], [False, False, False, True],
                     small_eps_aucs=(0.86, 0.85))],
        "comparisons": [
            {"metric": "detection_auc", "eps": 2 / 255, "train_per_class": 20, "run": "lsg",
             "baseline": "std", "lsg": 0.86, "std": 0.80, "difference": 0.06, "low": 0.021,
             "high": 0.094, "claim": "higher", "verdict": "reproduces",
             "method": "paired bootstrap over 500 detector test images"},
            {"metric": "pixel", "run": "lsg", "baseline": "std", "lsg": 1 / 3, "std": 1 / 3,
             "difference": 0.0, "low": -0.5, "high": 0.5, "claim": "lower",
             "verdict": "inconclusive", "method": "Newcombe"}],
        "wall_time_seconds": 24.0,
    }


def test_markdown_holds_table_rows_and_differences():
    text = attack_report.markdown(_results(), "python -m lsg_tf.attack_eval --run=runs/std")
    assert "| 0.3 | STD | 90.00 ± 1.00 | 95.00 ± 2.00 | 90.0 [82.6, 94.5] |" in text
    assert "| 0.3 | LSG-alternate | 92.50 ± 1.00 | 94.00 ± 2.00 |" in text
    assert "| 2/255 | STD | 80.00 ± 1.00 | 78.00 ± 2.00 | 40.0 [30.9, 49.8] |" in text
    # STD's mean AUC at 2/255 (79.0) is the nearest to the paper's STD mean (79.09)
    assert "**Paper-like ε: 2/255.**" in text and "inside the paper's STD range" in text
    assert "| LSG-alternate | +6.00 [+2.10, +9.40] reproduces | — |" in text
    assert "| No Attack | Accuracy | 87.50% | 87.50% |" in text
    # Wilson 1/3: (0.0615, 0.7923)
    assert "| Single Pixel Attack | Attack Success Rate | 33.3 [6.1, 79.2] (1/3) | " \
           "33.3 [6.1, 79.2] (1/3) |" in text
    assert "| one-pixel success (paper: LSG < STD) | +0.00 [-50.00, +50.00] inconclusive |" \
        in text
    # images 0 and 2 are attempted by both runs: STD succeeds on 0, LSG on neither
    assert "On the 2 one-pixel images that every run classifies correctly: STD 50.00%, " \
           "LSG-alternate 0.00%." in text
    assert "only the direction of the differences is comparable" in text
    assert "Wall time: 24 s in total (std 12 s, lsg 12 s)" in text


def test_results_to_json_drops_arrays_and_nan():
    payload = attack_report.results_to_json(_results())
    text = json.dumps(payload, allow_nan=False)  # raises on NaN
    assert "arrays" not in text
    assert payload["runs"][0]["pixel"]["mean_queries_successful"] is None
    assert payload["runs"][0]["sweep"][1]["detection"]["mean_auc"] == {20: 0.9, 50: 0.95}


def test_reference_eps_is_chosen_from_the_std_run_alone():
    runs = _results()["runs"]
    assert attack_report.reference_eps(runs)["eps"] == 2 / 255
    # the LSG run's AUCs do not move the choice
    runs[1]["sweep"][0]["detection"]["mean_auc"] = {20: 0.5, 50: 0.5}
    assert attack_report.reference_eps(runs)["index"] == 0
    runs[0]["sweep"][0]["detection"]["mean_auc"] = {20: 0.999, 50: 0.999}
    ref = attack_report.reference_eps(runs)
    assert ref["eps"] == 0.3 and not ref["in_paper_range"]  # 92.5 is outside 72.9-83.6
    assert attack_report.reference_eps(runs[1:]) is None  # no STD run


def _with_baselines(results):
    """Adds the random forest and a Mahalanobis baseline under every detection entry."""
    for r in results["runs"]:
        for e in r["sweep"]:
            det = e["detection"]
            forest = {"mean_auc": det["mean_auc"], "std_auc": det["std_auc"],
                      "interval": {20: [0.7, 0.9], 50: [0.71, 0.91]}}
            mahalanobis = {"mean_auc": {20: 0.6, 50: 0.65}, "std_auc": {20: 0.03, 50: 0.04},
                           "interval": {20: [0.55, 0.66], 50: [0.6, 0.7]}}
            det["detectors"] = {"random_forest": forest, "mahalanobis": mahalanobis}
    results["comparisons"].append(
        {"metric": "detection_auc_baseline", "detector": "mahalanobis", "eps": 2 / 255,
         "train_per_class": 50, "run": "lsg", "baseline": "std", "lsg": 0.65, "std": 0.65,
         "difference": -0.031, "low": -0.052, "high": -0.01, "claim": "higher",
         "verdict": "does not reproduce", "method": "paired bootstrap"})
    return results


def test_markdown_lists_every_detector_per_run_with_its_interval():
    text = attack_report.markdown(_with_baselines(_results()))
    assert "## Detection baselines: AUC (%) across ε" in text
    assert "| ε | detector | run | AUC, 20 per class | AUC, 50 per class |" in text
    assert "| 2/255 | random forest (paper) | STD | 80.00 ± 1.00 [70.0, 90.0] | " \
           "78.00 ± 2.00 [71.0, 91.0] |" in text
    assert "| 0.3 | Mahalanobis | LSG-alternate | 60.00 ± 3.00 [55.0, 66.0] | " \
           "65.00 ± 4.00 [60.0, 70.0] |" in text
    # LSG − STD at the paper-like ε (2/255), per detector
    assert "| random forest (paper) | LSG-alternate | +6.00 [+2.10, +9.40] reproduces | — |" \
        in text
    assert "| Mahalanobis | LSG-alternate | — | -3.10 [-5.20, -1.00] does not reproduce |" \
        in text
    assert "Detection baselines" not in attack_report.markdown(_results())  # forest alone
