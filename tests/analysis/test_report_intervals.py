"""Intervals of LSG − STD in the report: per-image masking values, ``comparisons`` and the
C_IC variant table (hand-made arrays; one tiny untrained model pair for the written files)."""

import dataclasses
import json

import numpy as np
import pytest
from conftest import tiny_backbone

from lsg_tf.analysis import correlation, masking, metrics, report_intervals, report_lib
from lsg_tf.core.model import LSGModel


# ------------------------------------------------------------- per-image masking values
def test_per_image_masking_known_answer():
    # correct[c, i]: image i correct with class c's filters masked; labels 0, 0, 1, 1, 2, 2.
    correct = np.array([[1, 0, 1, 1, 0, 1],
                        [0, 1, 1, 0, 1, 1],
                        [1, 1, 0, 1, 0, 0]], bool)
    own, others = masking.per_image_masking(correct, [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(own, [1, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(others, [0.5, 1, 0.5, 1, 0.5, 1])


def _random_head(n_per_class=7, num_classes=4, num_filters=12, seed=3):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), n_per_class)
    features = rng.random((len(labels), num_filters)).astype(np.float32)
    features[np.arange(len(labels)), labels % num_filters] += 1.5  # some class structure
    kernel = rng.normal(scale=0.5, size=(num_filters, num_classes)).astype(np.float32)
    kernel[np.arange(num_classes), np.arange(num_classes)] += 2.0
    bias = rng.normal(scale=0.1, size=num_classes).astype(np.float32)
    gate = rng.random((num_classes, num_filters)).astype(np.float32)
    return features, labels, kernel, bias, gate


def test_per_image_masking_means_are_the_sweeps_mean_recalls_on_a_balanced_set():
    features, labels, kernel, bias, gate = _random_head()
    sweep = masking.masking_sweep(features, labels, kernel, bias, gate, threshold=0.5)
    assert sweep.correct.shape == (4, len(labels)) and sweep.correct.dtype == bool
    # Not a degenerate case: a fractional masked recall, other-class recalls that differ.
    assert np.any((sweep.masked_recall > 0) & (sweep.masked_recall < 1))
    assert len(np.unique(sweep.other_recall)) > 1
    own, others = masking.per_image_masking(sweep.correct, labels)
    assert own.mean() == pytest.approx(np.nanmean(sweep.masked_recall), abs=1e-12)
    assert others.mean() == pytest.approx(np.nanmean(sweep.other_recall), abs=1e-12)
    for c in range(4):  # each sweep's per-image correctness is its confusion's diagonal
        result = masking.mask_filters(features, labels, kernel, bias, gate, [c], 0.5)
        np.testing.assert_array_equal(result.correct, sweep.correct[c])
        assert [result.correct[labels == k].sum() for k in range(4)] \
            == list(np.diag(result.confusion))


@pytest.mark.parametrize("correct, labels, message", [
    (np.ones(4, bool), [0, 1, 0, 1], r"correct must have shape \[C, N\] with C >= 2"),
    (np.ones((1, 4), bool), [0, 0, 0, 0], r"correct must have shape \[C, N\] with C >= 2"),
    (np.ones((2, 4), bool), [0, 1, 2, 1], r"labels must be in \[0, 2\)"),
    (np.ones((2, 4), bool), [0, 1], r"labels must have shape \[N\]=\[4\]"),
])
def test_per_image_masking_rejects_bad_input(correct, labels, message):
    with pytest.raises(ValueError, match=message):
        masking.per_image_masking(correct, labels)


def test_per_image_cross_entropy_known_answer_and_mean():
    logits = np.array([[0.0, np.log(3.0)], [2.0, 2.0]])
    values = metrics.per_image_cross_entropy(logits, [1, 0])
    np.testing.assert_allclose(values, [-np.log(0.75), np.log(2.0)], rtol=1e-12)
    assert metrics.cross_entropy(logits, [1, 0]) == pytest.approx(values.mean(), rel=1e-15)
    with pytest.raises(ValueError, match=r"logits must have shape \[N, C\]"):
        metrics.per_image_cross_entropy(np.zeros(3), [0, 0, 0])


# ------------------------------------------------------------------- comparisons
def _fake_run(name, scheme, correct, own, others, phi_values):
    """A RunAnalysis with only what :func:`report_intervals.comparisons` reads."""
    blank = {f.name: None for f in dataclasses.fields(report_lib.RunAnalysis)}
    return report_lib.RunAnalysis(**{
        **blank, "name": name, "scheme": scheme, "gate_trained": scheme != "std",
        "correct": np.asarray(correct, bool), "masked_own": np.asarray(own, float),
        "masked_others": np.asarray(others, float), "phi_per_image": np.asarray(phi_values)})


def _fake_report(runs, labels, resamples=200):
    data = report_lib.TestData(images=None, labels=np.asarray(labels), class_names=("a", "b"),
                               spec={})
    return report_lib.Report(runs=runs, data=data,
                             options=report_lib.ReportOptions(bootstrap_resamples=resamples))


def test_comparisons_schema_and_verdicts_on_a_clear_case():
    n = 200
    labels = np.arange(n) % 2
    rng = np.random.default_rng(0)
    # STD: right on half the images, keeps every masked class, Φ ≈ 0.8.
    std = _fake_run("std", "std", np.arange(n) < n // 2, np.ones(n), np.ones(n),
                    0.8 + rng.normal(scale=0.05, size=n))
    # LSG: right on every image, loses the masked class and (against the paper) the others.
    lsg = _fake_run("lsg", "alternate", np.ones(n), np.zeros(n), np.zeros(n),
                    0.2 + rng.normal(scale=0.05, size=n))
    same = _fake_run("same", "joint", std.correct, std.masked_own, std.masked_others,
                     std.phi_per_image)
    compared = report_intervals.comparisons(_fake_report([lsg, std, same], labels))
    assert [(c["run"], c["metric"]) for c in compared] == [
        (run, metric) for run in ("lsg", "same")
        for metric in ("accuracy", "phi", "masked_class_recall", "other_classes_recall")]
    keys = {"metric", "run", "baseline", "lsg", "std", "difference", "low", "high", "claim",
            "verdict", "method"}
    assert all(set(c) == keys for c in compared)
    by = {(c["run"], c["metric"]): c for c in compared}
    accuracy = by["lsg", "accuracy"]
    assert accuracy["baseline"] == "std" and accuracy["claim"] == "higher"
    assert (accuracy["lsg"], accuracy["std"], accuracy["difference"]) == (1.0, 0.5, 0.5)
    assert 0.4 < accuracy["low"] < 0.5 < accuracy["high"] < 0.6
    assert accuracy["method"] == "paired bootstrap over 200 test images, 200 resamples"
    assert accuracy["verdict"] == "reproduces"
    assert by["lsg", "phi"]["claim"] == "lower" and by["lsg", "phi"]["verdict"] == "reproduces"
    assert by["lsg", "phi"]["high"] < -0.5
    assert by["lsg", "masked_class_recall"]["claim"] == "lower"
    assert by["lsg", "masked_class_recall"]["verdict"] == "reproduces"
    assert by["lsg", "other_classes_recall"]["claim"] == "higher"
    assert by["lsg", "other_classes_recall"]["verdict"] == "does not reproduce"
    for metric in ("accuracy", "phi", "masked_class_recall", "other_classes_recall"):
        assert by["same", metric]["difference"] == 0.0
        assert by["same", metric]["verdict"] == "inconclusive"
    # Reproducible: a fixed bootstrap seed.
    assert report_intervals.comparisons(_fake_report([lsg, std, same], labels)) == compared


def test_comparisons_weight_masking_to_the_class_mean_on_an_unbalanced_set():
    labels = np.array([0, 0, 0, 1])  # class recalls with own = [1, 1, 1, 0]: 1 and 0
    std = _fake_run("std", "std", np.ones(4), np.ones(4), np.ones(4), np.ones(4))
    lsg = _fake_run("lsg", "alternate", np.ones(4), [1, 1, 1, 0], np.ones(4), np.ones(4))
    compared = report_intervals.comparisons(_fake_report([std, lsg], labels))
    masked = next(c for c in compared if c["metric"] == "masked_class_recall")
    assert masked["lsg"] == pytest.approx(0.5) and masked["difference"] == pytest.approx(-0.5)
    assert "weighted by N/(C·n_y)" in masked["method"]
    accuracy = next(c for c in compared if c["metric"] == "accuracy")
    assert "weighted" not in accuracy["method"]


def test_comparisons_need_an_std_run_and_per_image_values():
    labels = np.arange(4) % 2
    lsg = _fake_run("lsg", "alternate", np.ones(4), np.ones(4), np.ones(4), np.ones(4))
    assert report_intervals.comparisons(_fake_report([lsg], labels)) == []
    std = _fake_run("std", "std", np.ones(4), np.ones(4), np.ones(4), np.ones(4))
    std.masked_own = None
    with pytest.raises(ValueError, match="run 'std' has no per-image values"):
        report_intervals.comparisons(_fake_report([lsg, std], labels))
    std = _fake_run("std", "std", np.ones(3), np.ones(3), np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="has accuracy values for 3 images, the test data has 4"):
        report_intervals.comparisons(_fake_report([lsg, std], labels))


def test_report_options_reject_few_bootstrap_resamples():
    with pytest.raises(ValueError, match="bootstrap_resamples must be an integer >= 100"):
        report_lib.ReportOptions(bootstrap_resamples=50)


# ------------------------------------------------- written report (tiny untrained models)
_FAST = report_lib.ReportOptions(phi_steps=10, mask_classes=((0,),), m=2, mis_max_examples=None,
                                 bootstrap_resamples=200)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 8).astype(np.int32)
    images = rng.integers(0, 256, (len(labels), 8, 8, 1)).astype(np.uint8)
    images[labels == 1, :4] //= 4
    test = report_lib.TestData(images=images, labels=labels, class_names=("a", "b", "c"),
                               spec={"dataset": "toy", "test_subset": None, "seed": 0})
    runs = []
    for name, scheme in (("std", "std"), ("lsg", "alternate")):
        gate = (np.tile(np.eye(3), (1, 2)) if scheme != "std" else np.ones((3, 6)))
        model = LSGModel(tiny_backbone(filters=6, seed=len(runs)), 3)
        run = report_lib.analyse_model(model, test, gate.astype(np.float32), scheme != "std",
                                       _FAST, name, log=lambda m: 0)
        run.scheme = scheme
        runs.append(run)
    report = report_lib.Report(runs=runs, data=test, options=_FAST)
    paths = report_lib.write_report(report, str(tmp_path_factory.mktemp("out")))
    return report, open(paths["report"]).read(), json.load(open(paths["json"]))


def test_analyse_model_keeps_per_image_values_and_c_ic_variants(written):
    report, _, _ = written
    labels = report.data.labels
    for run in report.runs:
        assert run.correct.dtype == bool and run.correct.mean() == run.table1.accuracy
        assert run.masked_own.mean() == pytest.approx(
            np.nanmean(run.masking_sweep.masked_recall), abs=1e-12)
        assert run.masked_others.mean() == pytest.approx(
            np.nanmean(run.masking_sweep.other_recall), abs=1e-12)
        assert run.phi_per_image.shape == labels.shape
        assert run.phi_per_image.mean() == pytest.approx(run.phi.phi, rel=1e-5)
        assert set(run.c_ic_variants) == set(correlation.C_IC_VARIANTS)
        assert run.c_ic == run.c_ic_variants["cosine"]  # the variant the verdicts use


def test_report_json_has_comparisons_and_no_per_image_values(written):
    report, _, data = written
    compared = data["comparisons"]
    assert [(c["run"], c["baseline"], c["metric"]) for c in compared] == [
        ("lsg", "std", m) for m in report_intervals.COMPARISON_METRICS]
    for c in compared:
        assert c["verdict"] in ("reproduces", "does not reproduce", "inconclusive")
        assert c["low"] <= c["difference"] <= c["high"]
        assert c["method"].startswith("paired bootstrap over 24 test images, 200 resamples")
    accuracy = compared[0]
    assert accuracy["lsg"] == pytest.approx(report.runs[1].table1.accuracy, rel=1e-5)
    for run, item in zip(report.runs, data["runs"]):
        assert item["c_ic_variants"] == pytest.approx(run.c_ic_variants, rel=1e-5)
        for key in ("correct", "masked_own", "masked_others", "phi_per_image"):
            assert key not in item
        assert "correct" not in item["masking_sweep"] and "correct" not in item["masking"][0]
        assert len(item["masking_sweep"]["masked_recall"]) == 3


def test_markdown_claims_show_intervals_and_the_c_ic_variant_table(written):
    report, text, data = written
    claims = text[text.index("## The paper's claims"):text.index("## Table 1")]
    compared = report_intervals.comparisons(report)  # unrounded; report.json keeps 6 digits
    assert len(compared) == len(data["comparisons"]) == 4
    for c in compared:
        low, high = (f"{v:+.4f}".replace("-", "−") for v in (c["low"], c["high"]))
        assert f"95% [{low}, {high}]: **{c['verdict']}**" in claims
    assert "| C_IC below the STD run's (Table 2) | " in claims
    assert "paired bootstrap over the 24 test images (200 resamples, seed 0)" in claims
    assert "interval" in claims and "training seeds only" in claims
    section = text[text.index("### C_IC under each reading"):text.index("## Masking")]
    std, lsg = report.runs
    for key, definition in correlation.C_IC_VARIANTS.items():
        assert (f"| `{key}` | {definition} | {std.c_ic_variants[key]:.4f} | "
                f"{lsg.c_ic_variants[key]:.4f} |") in section
    assert "is `cosine`" in section
