"""LSG − STD intervals of the localization totals (paper section 4.4, Table 3): the paired
bootstrap over image-class items, the JSON "comparisons" schema and the markdown table."""

import json
import types

import numpy as np
import pytest

from lsg_tf.analysis import localization as loc
from lsg_tf.analysis import localization_report as report

SCHEMA = ["metric", "variant", "run", "baseline", "lsg", "std", "difference", "low", "high",
          "claim", "verdict", "method"]


def _result(filter_ious, cam_ious, item_classes, top_fraction=0.2, iou_threshold=0.15):
    """A LocalizationResult from hand-made per-item IoUs (classes 0.. named c0, c1, ...)."""
    classes = sorted(set(item_classes))
    names = [f"c{c}" for c in classes]
    return loc.LocalizationResult(
        top_fraction=top_fraction, iou_threshold=iou_threshold,
        num_images=len(item_classes), num_items=len(item_classes),
        one_filter=loc.summarise_one_filter(filter_ious, item_classes, classes, names,
                                            iou_threshold),
        cam=loc.summarise_cam(cam_ious, item_classes, classes, names, iou_threshold),
        item_image=list(range(len(item_classes))))


def _pair(lsg_shift, seed=0, n=40, k=6):
    """(LSG, STD) results on the same n items; LSG's IoUs are STD's plus ``lsg_shift``."""
    rng = np.random.default_rng(seed)
    classes = [i % 2 for i in range(n)]
    filters, cam = rng.uniform(0.0, 0.12, (n, k)), rng.uniform(0.0, 0.12, n)
    return (_result(np.clip(filters + lsg_shift, 0, 1), np.clip(cam + lsg_shift, 0, 1), classes),
            _result(filters, cam, classes))


def _verdicts(found):
    return {c["metric"]: c["verdict"] for c in found}


# ------------------------------------------------------------------ one-filter recomputation
def test_one_filter_totals_match_summary_and_recompute_on_resamples():
    rng = np.random.default_rng(3)
    ious = rng.uniform(0, 0.4, (9, 5))
    classes = np.array([0, 0, 0, 2, 2, 2, 5, 5, 5])
    full = loc.summarise_one_filter(ious, classes, [0, 2, 5], ["a", "b", "c"], 0.15)
    assert loc.one_filter_totals(ious, classes, 0.15) == pytest.approx((full.avg_iou, full.ap))
    # Item 1 drawn three times, class 5 not drawn: the same as summarising those rows.
    weights = np.array([1, 3, 0, 1, 0, 1, 0, 0, 0])
    rows = np.repeat(np.arange(9), weights)
    sub = loc.summarise_one_filter(ious[rows], classes[rows], [0, 2], ["a", "b"], 0.15)
    assert sub.filter_class != full.filter_class or sub.avg_iou != full.avg_iou
    assert loc.one_filter_totals(ious, classes, 0.15, weights) == pytest.approx(
        (sub.avg_iou, sub.ap))
    with pytest.raises(ValueError, match="non-negative"):
        loc.one_filter_totals(ious, classes, 0.15, np.zeros(9))
    with pytest.raises(ValueError, match="item classes"):
        loc.one_filter_totals(ious, classes[:3], 0.15)


def test_results_keep_per_item_ious_outside_the_summary():
    lsg, _ = _pair(0.5)
    assert lsg.one_filter.item_iou.shape == (40, 6) and lsg.cam.item_iou.shape == (40,)
    assert lsg.cam.item_class[:3] == [0, 1, 0]
    doc = loc.summary_dict(lsg)
    for part in (doc, doc["one_filter"], doc["cam"]):
        assert not set(loc.PER_ITEM_FIELDS) & set(part)
    assert doc["one_filter"]["avg_iou"] == lsg.one_filter.avg_iou
    json.dumps(doc)  # no arrays left


# -------------------------------------------------------------------------- comparisons
def test_clearly_better_lsg_reproduces_and_identical_is_inconclusive():
    better = report.comparisons([_pair(0.5)], ["lsg", "std"], ["joint", "std"])
    assert _verdicts(better) == dict.fromkeys(report.METRICS, "reproduces")
    for c in better:
        assert 0 < c["low"] <= c["difference"] <= c["high"]
    same = report.comparisons([_pair(0.0)], ["lsg", "std"], ["joint", "std"])
    assert _verdicts(same) == dict.fromkeys(report.METRICS, "inconclusive")
    assert all(c["difference"] == c["low"] == c["high"] == 0 for c in same)
    lsg, std = _pair(0.5)
    worse = report.comparisons([(std, lsg)], ["lsg", "std"], ["joint", "std"])
    assert _verdicts(worse) == dict.fromkeys(report.METRICS, "does not reproduce")


def test_small_noisy_difference_is_inconclusive():
    rng = np.random.default_rng(5)
    classes = [i % 2 for i in range(30)]
    a = rng.uniform(0, 0.4, (30, 4))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    found = report.comparisons(
        [(_result(a, a[:, 0], classes), _result(b, b[:, 0], classes))], ["lsg", "std"],
        ["joint", "std"])
    assert _verdicts(found)["cam_avg_iou"] == "inconclusive"
    cam = next(c for c in found if c["metric"] == "cam_avg_iou")
    assert cam["low"] < 0 < cam["high"]


def test_comparisons_schema_baseline_from_scheme_and_fixed_seed():
    paper = _pair(0.3)
    later = tuple(_result(r.one_filter.item_iou, r.cam.item_iou, r.cam.item_class, 0.3, 0.3)
                  for r in _pair(0.3))
    # The STD run is the second; "alt" is a second LSG run (the baseline itself twice).
    per_variant = [[paper[0], paper[1], paper[0]], [later[0], later[1], later[0]]]
    found = report.comparisons(per_variant, ["lsg", "base", "alt"], ["joint", "std", "alternate"])
    assert len(found) == 2 * 2 * 4
    for c in found:
        assert list(c) == SCHEMA
        assert c["baseline"] == "base" and c["run"] in ("lsg", "alt") and c["claim"] == "higher"
        assert c["method"] == "paired bootstrap over 40 items, 2000 resamples"
        assert c["difference"] == c["lsg"] - c["std"]
        assert c["low"] <= c["difference"] <= c["high"]
        assert c["verdict"] in ("reproduces", "does not reproduce", "inconclusive")
    assert [c["metric"] for c in found[:4]] == list(report.METRICS)
    assert {c["variant"] for c in found} == {"top20_ap15", "top30_ap30"}
    first = found[0]
    assert (first["lsg"], first["std"]) == (paper[0].one_filter.avg_iou,
                                            paper[1].one_filter.avg_iou)
    assert json.loads(json.dumps(found)) == found
    assert report.comparisons(per_variant, ["lsg", "base", "alt"],
                              ["joint", "std", "alternate"]) == found  # fixed seed
    assert report.comparisons(per_variant, ["a", "b", "c"], ["joint"] * 3) == []  # no STD run


def test_comparisons_bad_inputs():
    lsg, std = _pair(0.5)
    with pytest.raises(ValueError, match="schemes has 1 entries for 2 runs"):
        report.comparisons([(lsg, std)], ["lsg", "std"], ["std"])
    other = _result(std.one_filter.item_iou[:-1], std.cam.item_iou[:-1], std.cam.item_class[:-1])
    with pytest.raises(ValueError, match="different items"):
        report.comparisons([(lsg, other)], ["lsg", "std"], ["joint", "std"])
    bare = loc.LocalizationResult(0.2, 0.15, 40, 40, loc.OneFilterResult(
        std.one_filter.per_class, 0.1, 0.1, [], [], []), loc.CamResult(std.cam.per_class, 0, 0))
    with pytest.raises(ValueError, match="std: the result keeps no per-item IoUs"):
        report.comparisons([(lsg, bare)], ["lsg", "std"], ["joint", "std"])


# ------------------------------------------------------------------------------ markdown
def _runs_info(schemes):
    return [{"name": s, "scheme": s, "model": "resnet20", "dataset": "cifar10",
             "train_subset": None, "epochs": 1, "accuracy": 0.5, "item_accuracy": 0.5,
             "input_size": "32x32x3"} for s in schemes]


DATA_INFO = {"num_images": 40, "num_items": 40, "num_folder_images": 50,
             "class_map": {"car": "automobile"}}


def test_markdown_has_interval_table_after_each_table3(tmp_path):
    pair = _pair(0.5)
    later = [_result(r.one_filter.item_iou, r.cam.item_iou, r.cam.item_class, 0.3, 0.3)
             for r in pair]
    per_variant = [list(pair), later]
    found = report.comparisons(per_variant, ["LSG", "STD"], ["joint", "std"])
    path = tmp_path / "localization.md"
    report.write_markdown(str(path), "python -m lsg_tf.localize", ["LSG", "STD"],
                          _runs_info(["joint", "std"]), per_variant, DATA_INFO,
                          comparisons=found)
    text = path.read_text()
    paper_part, later_part = text.split("## Top 30% activations")
    for part, ap in ((paper_part, "AP15"), (later_part, "AP30")):
        assert part.index("| **total**") < part.index("### LSG − STD with 95% interval")
        assert "| LSG − STD | 95% interval | verdict (LSG higher) |" in part
        for label in ("1-filter Avg-IoU", f"1-filter {ap}", "CAM Avg-IoU", f"CAM {ap}"):
            assert f"| LSG − STD | {label} |" in part
        assert part.count("| reproduces |") == 4
        assert "Method: paired bootstrap over 40 items, 2000 resamples (seed 0)" in part
    cam_ap = next(c for c in found if c["metric"] == "cam_ap")
    assert f"| {cam_ap['difference']:+.3f} | [{cam_ap['low']:+.3f}, {cam_ap['high']:+.3f}] |" \
        in paper_part
    same = report.comparisons([_pair(0.0)], ["LSG", "STD"], ["joint", "std"])
    report.write_markdown(str(path), "cmd", ["LSG", "STD"], _runs_info(["joint", "std"]),
                          [list(_pair(0.0))], DATA_INFO, comparisons=same)
    assert "| 0.000 | [0.000, 0.000] | inconclusive |" in path.read_text()
    report.write_markdown(str(path), "cmd", ["LSG", "B"], _runs_info(["joint", "alternate"]),
                          per_variant, DATA_INFO)
    text = path.read_text()
    assert "95% interval" not in text and "No run has scheme std" in text


# ------------------------------------------------------------------ report (fake runs)
def test_localization_report_writes_comparisons(tmp_path, monkeypatch):
    from test_localization import write_voc

    voc = tmp_path / "voc"
    write_voc(str(voc), "0 void\n1 shirt\n2 boot\n", shapes=((8, 8),) * 6)
    rng = np.random.default_rng(0)
    maps = {"std.keras": rng.random((6, 2, 2, 4)).astype(np.float32),
            "lsg.keras": rng.random((6, 2, 2, 4)).astype(np.float32)}

    def fake_model(path):
        return types.SimpleNamespace(
            path=path, class_names=["Shirt", "Ankle boot"],
            classifier=types.SimpleNamespace(kernel=rng.normal(size=(4, 2)).astype(np.float32),
                                             bias=np.zeros(2, np.float32)),
            backbone=types.SimpleNamespace(input_shape=(None, 8, 8, 3)))

    schemes = {"run_std": "std", "run_lsg": "joint"}
    monkeypatch.setattr(report, "read_run", lambda d: types.SimpleNamespace(
        model_path=d.split("_")[-1] + ".keras", scheme=schemes[d], metrics={},
        config={"model": "tiny", "dataset": "fake", "epochs": 1}))
    monkeypatch.setattr(report, "load_model", fake_model)
    monkeypatch.setattr(loc, "feature_maps", lambda model, *a, **k: maps[model.path])
    monkeypatch.setattr(report, "save_figure", lambda *a, **k: None)
    out = tmp_path / "out"
    doc = report.localization_report(["run_lsg", "run_std"], ["lsg", "std"], str(voc), str(out),
                                     "cmd", class_map={"shirt": "Shirt", "boot": "Ankle boot"},
                                     resamples=200)
    written = json.loads((out / "localization.json").read_text())
    assert written["comparisons"] == doc["comparisons"]
    assert len(doc["comparisons"]) == 2 * 4  # two variants, one LSG run
    assert {(c["run"], c["baseline"]) for c in doc["comparisons"]} == {("lsg", "std")}
    assert doc["comparisons"][0]["method"] == "paired bootstrap over 11 items, 200 resamples"
    assert [v["name"] for v in written["variants"]] == ["top20_ap15", "top30_ap30"]
    for variant in written["variants"]:
        runs = variant["runs"]
        assert "item_iou" not in runs["lsg"]["cam"] and "item_image" not in runs["lsg"]
        first = next(c for c in doc["comparisons"] if c["variant"] == variant["name"])
        assert first["lsg"] == runs["lsg"]["one_filter"]["avg_iou"]
        assert first["std"] == runs["std"]["one_filter"]["avg_iou"]
    assert "### LSG − STD with 95% interval" in (out / "localization.md").read_text()
