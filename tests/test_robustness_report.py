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


def _results():
    def run(name, scheme, label, aucs, attempted, success):
        return {"name": name, "scheme": scheme, "label": label, "run_test_accuracy": 0.9,
                "gate_density": 1.0, "clean_accuracy": 0.875,
                "detection": {"train_per_class": [20, 50], "repeats": 3, "feature_dim": 688,
                              "mean_auc": {20: aucs[0], 50: aucs[1]},
                              "std_auc": {20: 0.01, 50: 0.02}},
                "pixel": _black_box(attempted, success),
                "seconds": {"total": 12.0},
                "arrays": {"roc": {20: (np.array([0, 1]), np.array([0, 1]))}}}

    return {
        "config": {"detection": {"n_estimators": 100, "train_per_class": [20, 50],
                                 "test_per_class": 50, "repeats": 3, "pool_size_per_class": 150},
                   "pixel": {"pixels": 1, "population": 400, "max_iter": 10}},
        "data": {"dataset": "fashion_mnist", "image_shape": [28, 28, 1], "num_classes": 10,
                 "class_names": [str(i) for i in range(10)], "accuracy_images": 10000,
                 "pixel_images": 4, "target_permutation": [1, 0]},
        "runs": [run("std", "std", "STD", (0.9, 0.95), [True, True, True, False],
                     [True, False, False, False]),
                 run("lsg", "alternate", "LSG-alternate", (0.925, 0.94),
                     [True, False, True, True], [False, False, False, True])],
        "wall_time_seconds": 24.0,
    }


def test_markdown_holds_table_rows_and_differences():
    text = attack_report.markdown(_results(), "python -m tools.attack_eval --run=runs/std")
    assert "| STD | 90.00 ± 1.00 | 95.00 ± 2.00 |" in text
    assert "| LSG-alternate | 92.50 ± 1.00 | 94.00 ± 2.00 |" in text
    assert "LSG-alternate minus STD: +2.50, -1.00 AUC points." in text
    assert "| No Attack | Accuracy | 87.50% | 87.50% |" in text
    assert "| Single Pixel Attack | Attack Success Rate | 33.33% (1/3) | 33.33% (1/3) |" in text
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
    assert payload["runs"][0]["detection"]["mean_auc"] == {20: 0.9, 50: 0.95}
