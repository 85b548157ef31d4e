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
