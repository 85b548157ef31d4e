import numpy as np
import pytest

from lsg_tf.analysis.filters_per_class import filters_per_class


def test_filters_per_class_counts_monopolised_and_shared_filters():
    gate = np.array([[1.0, 0.9, 0.1, 1.0, 0.6, 0.2],
                     [0.2, 0.1, 1.0, 1.0, 1.0, 0.3],
                     [0.0, 0.4, 0.3, 0.2, 0.1, 1.0]])
    # h = 0.5: filters 0, 1 -> class 0; 2 -> class 1; 5 -> class 2; 3, 4 have two entries >= h.
    result = filters_per_class(gate, 0.5)
    np.testing.assert_array_equal(result.per_class, [2, 1, 1])
    assert result.shared == 2 and result.num_filters == 6
    # h = 0.95: filter 1 is no longer above h anywhere -> shared; filter 4 becomes class 1's.
    np.testing.assert_array_equal(filters_per_class(gate, 0.95).per_class, [1, 2, 1])


def test_filters_per_class_rejects_a_bad_threshold():
    with pytest.raises(ValueError, match=r"threshold h must be in \(0, 1\]"):
        filters_per_class(np.ones((2, 3)), 0.0)
