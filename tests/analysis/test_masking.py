import numpy as np
import pytest

from lsg_tf.analysis import masking


def _specific_model(redundant=False, n_per_class=10):
    """3 classes. Filter c (and, if redundant, filter 3 + c) fires only on class c; the
    classifier reads filter k as class k % 3. A small bias breaks ties towards class 2 when
    every feature of an image is masked."""
    labels = np.repeat(np.arange(3), n_per_class)
    k = 6 if redundant else 3
    owner = np.arange(k) % 3
    features = (owner[None, :] == labels[:, None]).astype(np.float32) * 2.0
    kernel = (owner[:, None] == np.arange(3)[None, :]).astype(np.float32) * 3.0
    bias = np.array([0.0, 0.1, 0.2], np.float32)
    # The gate names only filters 0..2 as class-specific (filters 3..5 stay unlisted).
    gate = np.zeros((3, k), np.float32)
    gate[np.arange(3), np.arange(3)] = 1.0
    gate[:, 3:] = 0.4
    return features, labels, kernel, bias, gate


def test_masking_the_only_filters_of_a_class_collapses_its_recall():
    features, labels, kernel, bias, gate = _specific_model()
    result = masking.mask_filters(features, labels, kernel, bias, gate, [0], threshold=0.5)
    np.testing.assert_array_equal(result.masked_filters, [0])
    np.testing.assert_allclose(result.baseline_recall, [1, 1, 1])
    np.testing.assert_allclose(result.recall, [0, 1, 1])
    assert result.masked_recall == 0.0 and result.other_recall == 1.0
    # Masked class-0 images see only the bias and go to class 2.
    assert result.confusion[0, 2] == 10 and result.confusion.sum() == 30


def test_masking_keeps_recall_when_another_filter_carries_the_class():
    # STD-like redundancy: filter 3 also reads class 0, and the gate does not name it.
    features, labels, kernel, bias, gate = _specific_model(redundant=True)
    result = masking.mask_filters(features, labels, kernel, bias, gate, [0], threshold=0.5)
    np.testing.assert_array_equal(result.masked_filters, [0])
    np.testing.assert_allclose(result.recall, [1, 1, 1])


def test_masking_several_classes_and_the_sweep():
    features, labels, kernel, bias, gate = _specific_model()
    result = masking.mask_filters(features, labels, kernel, bias, gate, [0, 1], threshold=0.5)
    np.testing.assert_allclose(result.recall, [0, 0, 1])
    assert result.classes == [0, 1]
    sweep = masking.masking_sweep(features, labels, kernel, bias, gate, threshold=0.5)
    np.testing.assert_allclose(sweep.masked_recall, [0, 0, 1])  # class 2 wins ties via bias
    np.testing.assert_array_equal(sweep.num_masked, [1, 1, 1])
    np.testing.assert_allclose(sweep.other_recall, [1, 1, 1])


def test_class_filters_uses_a_strict_threshold():
    gate = np.array([[1.0, 0.5, 0.2], [0.3, 1.0, 1.0]])
    np.testing.assert_array_equal(masking.class_filters(gate, [0], 0.5), [True, False, False])
    np.testing.assert_array_equal(masking.class_filters(gate, [0], 0.4), [True, True, False])
    np.testing.assert_array_equal(masking.class_filters(gate, [0, 1], 0.5), [True, True, True])


@pytest.mark.parametrize("classes, threshold, message", [
    ([], 0.5, "at least one class"),
    ([3], 0.5, r"classes \[3\] are outside \[0, 3\)"),
    ([0], 1.0, r"mask threshold must be in \[0, 1\)"),
])
def test_masking_rejects_bad_arguments(classes, threshold, message):
    features, labels, kernel, bias, gate = _specific_model()
    with pytest.raises(ValueError, match=message):
        masking.mask_filters(features, labels, kernel, bias, gate, classes, threshold)


def test_masking_rejects_a_gate_of_the_wrong_shape():
    features, labels, kernel, bias, gate = _specific_model()
    with pytest.raises(ValueError, match=r"gate must have shape \[C, K\]=\[3, 3\]"):
        masking.mask_filters(features, labels, kernel, bias, gate.T[:2], [0])


def _sweep(baseline, masked, others):
    n = len(baseline)
    return masking.MaskingSweep(masked_recall=np.array(masked), other_recall=np.array(others),
                                num_masked=np.full(n, 2), baseline_recall=np.array(baseline))


def test_summary_of_a_near_chance_model_gives_recall_before_and_after_and_says_too_weak():
    # 10 classes, everything predicted as class 0 but a few images: masking class 0's
    # filters spreads the predictions, and the other classes' recall rises 0.12 -> 0.52.
    baseline = [0.9] + [0.12] * 9
    summary = masking.sweep_summary(_sweep(baseline, [0.0] * 10, [0.52] + [0.1] * 9))
    assert summary["others_kept"][0] == pytest.approx(0.52 / 0.12)  # the misleading "433%"
    assert summary["others_recall_before"][0] == pytest.approx(0.12)
    assert summary["others_recall_after"][0] == pytest.approx(0.52)
    assert summary["mean_recall_before"] == pytest.approx(0.198) and summary["too_weak"]
    line = masking.summary_line(summary)
    assert "%" not in line and "keep" not in line
    assert "its recall 0.90 -> 0.00, the other classes' recall 0.12 -> 0.52" in line
    assert line.endswith("; not meaningful: the model is too weak (mean recall 0.198 < 0.200, "
                         "chance 0.100)")


def test_summary_says_too_weak_when_the_shown_class_had_little_recall():
    summary = masking.sweep_summary(_sweep([0.45] * 10, [0.0] * 10, [0.4] * 10), list("abcdefghij"))
    assert summary["too_weak"] and summary["max_others_drop"] == pytest.approx(0.05)
    assert masking.summary_line(summary).endswith(
        "not meaningful: the model is too weak (class 'a' recall 0.45 < 0.50 before masking)")


def test_summary_of_a_trained_model_has_no_warning():
    summary = masking.sweep_summary(_sweep([0.98, 0.9, 0.92], [0.01, 0.0, 0.05],
                                           [0.9, 0.95, 0.96]), ["Trouser", "b", "c"])
    assert not summary["too_weak"]
    line = masking.summary_line(summary)
    assert line == ("masking the 2 filters of class 'Trouser' (G > 0.5): its recall 0.98 -> "
                    "0.01, the other classes' recall 0.91 -> 0.90; over all classes: masked "
                    "recall <= 0.05, the others' recall falls by <= 0.01")


def test_summary_line_reads_a_summary_written_before_the_recall_fields():
    summary = masking.sweep_summary(_sweep([0.98, 0.9, 0.92], [0.01, 0.0, 0.05],
                                           [0.9, 0.95, 0.96]), ["Trouser", "b", "c"])
    old = {k: v for k, v in summary.items() if k in (
        "class_names", "num_masked", "recall_before", "recall_after", "others_kept",
        "max_recall_after", "min_others_kept")}
    assert masking.summary_line(old) == masking.summary_line(summary)


@pytest.mark.parametrize("classes, floor", [(2, 0.75), (3, 2 / 3), (4, 0.5), (10, 0.2),
                                            (200, 0.01)])
def test_weak_recall_floor_is_twice_chance_or_halfway_to_perfect(classes, floor):
    assert masking.weak_recall_floor(classes) == pytest.approx(floor)
