"""Table 3 on boxes: LSG − STD intervals per seed and pooled (hand-made scores), and the report
end to end on two tiny runs trained on a miniature Tiny ImageNet folder."""

import json
import types

import numpy as np
import pytest
from PIL import Image

from lsg_tf.analysis import box_localization as bl
from tools.tiny_imagenet_sample import write_tree


def _scores(name, scheme, seed, cam_iou, hits, one_filter_iou, grad_iou=None, grad_hits=None):
    n = len(cam_iou)
    result = types.SimpleNamespace(
        iou_threshold=0.3,
        one_filter=types.SimpleNamespace(item_iou=np.asarray(one_filter_iou, float).reshape(n, 1),
                                         item_class=np.zeros(n, int)),
        cam=types.SimpleNamespace(item_iou=np.asarray(cam_iou, float)))
    grad = None
    if grad_iou is not None:
        grad = {(0.3, 0.3): (np.asarray(grad_iou, float), 0.3),
                "pointing": np.asarray(grad_hits, bool)}
    return bl.RunScores(name, scheme, seed, 1.0, [result], np.asarray(hits, bool), grad, [{}])


def _row(rows, metric, baseline, seed):
    (row,) = [r for r in rows if r["metric"] == metric and r["baseline"] == baseline
              and r["seed"] == seed]
    return row


def test_comparisons_per_seed_and_pooled_by_hand():
    std0 = _scores("std", "std", 0, [0.1, 0.2, 0.5, 0.0], [0, 0, 1, 0], [0.1, 0.2, 0.5, 0.0],
                   grad_iou=[0.4, 0.4, 0.4, 0.4], grad_hits=[1, 1, 1, 1])
    lsg0 = _scores("joint", "joint", 0, [0.6, 0.2, 0.5, 0.4], [1, 1, 1, 1], [0.6, 0.2, 0.5, 0.4])
    std1 = _scores("std", "std", 1, [0.2, 0.2, 0.2, 0.2], [0, 0, 0, 0], [0.2, 0.2, 0.2, 0.2],
                   grad_iou=[0.0, 0.0, 0.0, 0.0], grad_hits=[0, 0, 0, 0])
    lsg1 = _scores("joint", "joint", 1, [0.4, 0.4, 0.4, 0.4], [1, 1, 1, 1], [0.4, 0.4, 0.4, 0.4])
    rows = bl.box_comparisons([[std0, lsg0], [std1, lsg1]], variants=((0.3, 0.3),),
                              resamples=200)
    # Per seed: CAM Avg-IoU 0.425 - 0.2 (seed 0), 0.4 - 0.2 (seed 1); pooled: their mean.
    assert _row(rows, "cam_avg_iou", "std", 0)["difference"] == pytest.approx(0.225)
    assert _row(rows, "cam_avg_iou", "std", 1)["difference"] == pytest.approx(0.2)
    pooled = _row(rows, "cam_avg_iou", "std", "pooled")
    assert pooled["difference"] == pytest.approx(0.2125)
    assert pooled["method"].endswith("mean over 2 seeds")
    # Seed 1's IoUs are constant: every resample gives the same difference.
    one = _row(rows, "cam_avg_iou", "std", 1)
    assert one["low"] == pytest.approx(0.2) and one["high"] == pytest.approx(0.2)
    assert one["verdict"] == "reproduces"
    # AP (IoU > 0.3): seed 0 LSG 3/4 vs STD 1/4; the one-filter totals of one class equal them.
    assert _row(rows, "cam_ap", "std", 0)["difference"] == pytest.approx(0.5)
    assert _row(rows, "one_filter_ap", "std", 0)["difference"] == pytest.approx(0.5)
    assert _row(rows, "one_filter_avg_iou", "std", 0)["difference"] == pytest.approx(0.225)
    # Pointing game: LSG hits everything; STD's CAM 1/4 (seed 0), 0 (seed 1).
    assert _row(rows, "pointing", "std", "pooled")["difference"] == pytest.approx(0.875)
    # Against STD's Grad-CAM: seed 0 it hits everything, so LSG's pointing ties it exactly.
    tie = _row(rows, "pointing", "std_grad_cam", 0)
    assert (tie["difference"], tie["low"], tie["high"]) == (0, 0, 0)
    assert tie["verdict"] == "inconclusive"
    assert _row(rows, "cam_avg_iou", "std_grad_cam", 0)["difference"] == pytest.approx(0.025)
    # Rows: per seed and pooled, 4 metrics vs STD + 2 CAM metrics vs Grad-CAM + 2 pointing.
    assert len(rows) == 3 * (4 + 2 + 2)
    for r in rows:
        assert r["low"] <= r["difference"] + 1e-12 and r["difference"] <= r["high"] + 1e-12


def test_report_end_to_end_on_two_tiny_runs(tmp_path):
    from lsg_tf.analysis.box_localization_report import box_localization_report
    from lsg_tf.training.train_lib import TrainConfig, train

    data_dir = tmp_path / "tiny"
    write_tree(data_dir)
    runs = []
    for scheme in ("std", "joint"):
        run_dir = tmp_path / scheme
        train(TrainConfig(output_dir=str(run_dir), dataset="tiny_imagenet",
                          data_dir=str(data_dir), model="resnet20", epochs=1, batch_size=6,
                          scheme=scheme, verbose=0, export_dir=""))
        runs.append({"run_dir": str(run_dir), "name": scheme, "seed": 0})
    out = tmp_path / "out"
    document = box_localization_report(runs, str(data_dir), str(out), command="cmd",
                                       resamples=100)
    assert document["data"]["num_images"] == 12 and document["data"]["classes"] == ["fox", "owl"]
    rows = document["comparisons"]
    # One seed, one LSG run: per variant 4 metrics vs STD and 2 vs Grad-CAM, plus 2 pointing.
    assert len(rows) == 2 * 6 + 2
    for r in rows:
        assert r["difference"] == pytest.approx(r["lsg"] - r["std"])
    totals = {(t["run"], t["variant"]) for t in document["totals"]}
    assert ("std_grad_cam", "top30_ap30") in totals and ("joint", "top20_ap15") in totals
    text = (out / "box_localization.md").read_text()
    assert "## top20_ap15" in text and "## top30_ap30" in text and "pointing game" in text
    assert "| centre_prior | — |" in text and "None" not in text
    assert json.loads((out / "box_localization.json").read_text())["command"] == "cmd"
    with Image.open(out / "box_localization.png") as png:
        assert png.size[0] > 200


def test_centre_prior_scores_by_hand():
    """A centred blob: its maximum is the centre pixel; its top fraction a centred disc."""
    from lsg_tf.analysis import boxes

    images = np.zeros((2, 9, 9, 3), np.uint8)
    xyxy = np.array([[3, 3, 5, 5], [0, 0, 2, 2]])  # around the centre pixel (4, 4); a corner
    data = boxes.boxes_as_voc(images, np.array([0, 1]), xyxy, ["fox", "owl"])
    items = boxes.box_items(data, ["fox", "owl"])
    scores = bl.centre_prior(items, xyxy, (9, 9), variants=((9 / 81, 0.5),))
    np.testing.assert_array_equal(scores["pointing"], [True, False])
    ious, threshold = scores[(9 / 81, 0.5)]
    # The top 9 of 81 pixels of a centred Gaussian: the centre 3x3 block (a disc of radius
    # 1 holds 5 pixels, the corners of the 3x3 block are the next 4 by distance).
    assert threshold == 0.5 and ious[0] == pytest.approx(1.0) and ious[1] == pytest.approx(0.0)
