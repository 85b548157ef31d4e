import keras
import numpy as np
import pytest

from lsg_tf.core import gate as gate_lib


def _project(g):
    return np.asarray(
        gate_lib.GateConstraint()(keras.ops.convert_to_tensor(np.asarray(g, "float32"))))


def test_constraint_columns_have_max_one_and_values_in_unit_interval():
    rng = np.random.default_rng(1)
    g = rng.normal(0.5, 1.0, size=(10, 64)).astype("float32")
    p = _project(g)
    assert p.min() >= 0.0 and p.max() <= 1.0
    np.testing.assert_allclose(p.max(axis=0), 1.0)


def test_constraint_divides_by_column_max_then_clips():
    # Column 0: max 2 -> [1, 0.25, 0]; column 1: max 0.5 -> [1, 0.4 -> clip(-0.2/0.5)=0, 0.8]
    g = [[2.0, 0.5], [0.5, -0.1], [-1.0, 0.4]]
    np.testing.assert_allclose(_project(g), [[1.0, 1.0], [0.25, 0.0], [0.0, 0.8]], rtol=1e-6)


def test_constraint_resets_dead_columns_to_all_one():
    g = [[0.0, -1.0, 0.3], [0.0, -0.5, 0.6]]
    p = _project(g)
    np.testing.assert_allclose(p[:, 0], 1.0)
    np.testing.assert_allclose(p[:, 1], 1.0)
    np.testing.assert_allclose(p[:, 2], [0.5, 1.0])


def test_constraint_is_idempotent_and_serialisable():
    g = np.random.default_rng(2).random((4, 5)).astype("float32")
    once = _project(g)
    np.testing.assert_allclose(_project(once), once, rtol=1e-6)
    c = gate_lib.GateConstraint(epsilon=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(c))
    assert isinstance(restored, gate_lib.GateConstraint) and restored.epsilon == 1e-6


def test_constraint_rejects_bad_epsilon():
    with pytest.raises(ValueError, match="epsilon"):
        gate_lib.GateConstraint(epsilon=0)


def test_sparsity_penalty_hand_values():
    # ||G||_1 = 1 + 0.5 + 0 + 1 = 2.5
    g = keras.ops.convert_to_tensor(np.array([[1.0, 0.5], [0.0, 1.0]], "float32"))
    s_low = gate_lib.target_norm(0.5, 2, 2)   # 0.5 * 2 * 2 = 2
    s_high = gate_lib.target_norm(0.75, 2, 2)  # 3
    assert s_low == 2.0 and s_high == 3.0
    assert float(gate_lib.sparsity_penalty(g, 0.1, s_low, "abs")) == pytest.approx(0.05)
    assert float(gate_lib.sparsity_penalty(g, 0.1, s_low, "hinge")) == pytest.approx(0.05)
    assert float(gate_lib.sparsity_penalty(g, 0.1, s_high, "abs")) == pytest.approx(0.05)
    assert float(gate_lib.sparsity_penalty(g, 0.1, s_high, "hinge")) == 0.0
    assert float(gate_lib.density(g)) == pytest.approx(0.625)


@pytest.mark.parametrize("target", [0.05, 1.01, -1.0])
def test_target_norm_rejects_density_outside_range(target):
    with pytest.raises(ValueError, match=r"density_target must be in \[1/C, 1\]"):
        gate_lib.target_norm(target, 10, 64)


def test_sparsity_penalty_rejects_unknown_form():
    with pytest.raises(ValueError, match="sparsity form must be one of"):
        gate_lib.sparsity_penalty(np.ones((2, 2), "float32"), 0.1, 1.0, "l2")


def test_tighten_gate_one_entry_above_threshold_becomes_one_hot():
    g = np.array([[1.0, 1.0, 0.2, 0.6],
                  [0.3, 0.9, 1.0, 0.6],
                  [0.1, 0.0, 0.4, 1.0]])
    # h = 0.5: col0 one entry -> one-hot; col1 two -> all one; col2 one -> one-hot;
    # col3 three -> all one.
    expected = np.array([[1, 1, 0, 1], [0, 1, 1, 1], [0, 1, 0, 1]], "float32")
    np.testing.assert_array_equal(gate_lib.tighten_gate(g, 0.5), expected)
    np.testing.assert_array_equal(gate_lib.class_specific_filters(g, 0.5), [1, 1, 0])


def test_tighten_gate_rejects_bad_threshold_and_shape():
    with pytest.raises(ValueError, match=r"threshold h must be in \(0, 1\]"):
        gate_lib.tighten_gate(np.ones((2, 2)), 0.0)
    with pytest.raises(ValueError, match="shape"):
        gate_lib.tighten_gate(np.ones(3), 0.5)


def test_fixed_gate_matrix_matches_appendix_c():
    g = gate_lib.fixed_gate_matrix(10, 6, 4)
    assert g.shape == (10, 64)
    np.testing.assert_array_equal(g.sum(axis=1), np.full(10, 10.0))
    np.testing.assert_array_equal(g[:, 60:], 1.0)
    np.testing.assert_array_equal(g[:, :60].sum(axis=0), 1.0)
    assert g[3, 18] == 1 and g[3, 24] == 0
    np.testing.assert_array_equal(gate_lib.class_specific_filters(g, 0.5), np.full(10, 6))
    np.testing.assert_allclose(_project(g), g)


def test_parse_fixed_gate_spec_file_and_errors(tmp_path):
    np.testing.assert_array_equal(gate_lib.parse_fixed_gate("6,4", 10, 64),
                                  gate_lib.fixed_gate_matrix(10, 6, 4))
    path = str(tmp_path / "g.npy")
    np.save(path, gate_lib.fixed_gate_matrix(3, 2, 1))
    assert gate_lib.parse_fixed_gate(path, 3, 7).shape == (3, 7)
    with pytest.raises(ValueError, match=r"needs \[num_classes, K\] = \[10, 32\]"):
        gate_lib.parse_fixed_gate("6,4", 10, 32)
    with pytest.raises(ValueError, match="PER_CLASS,SHARED"):
        gate_lib.parse_fixed_gate("six", 10, 64)
    with pytest.raises(ValueError, match="per_class must be an integer >= 1"):
        gate_lib.fixed_gate_matrix(10, 0, 4)


def test_target_check_flags_a_gate_above_its_target():
    check = gate_lib.target_check(0.305, 0.15)
    assert check == {"density": 0.305, "target": 0.15, "tolerance": 0.2, "reached": False}
    assert "0.305 is above its target 0.15" in gate_lib.target_missed_line(check)
    assert gate_lib.target_check(0.18, 0.15)["reached"]  # exactly at the tolerance
    assert not gate_lib.target_check(0.1801, 0.15)["reached"]
    assert gate_lib.target_check(0.10, 0.15)["reached"]  # below the target is fine
    assert gate_lib.target_missed_line(gate_lib.target_check(0.15, 0.15)) == ""
    with pytest.raises(ValueError, match="tolerance"):
        gate_lib.target_check(0.2, 0.15, tolerance=-0.1)


def test_adam_steps_needed_is_the_distance_over_the_rate():
    assert gate_lib.adam_steps_needed(0.15, 0.01) == 85
    assert gate_lib.adam_steps_needed(0.15, 1e-3) == 850
    assert gate_lib.adam_steps_needed(1.0, 0.1) == 0
    assert "12 gated steps, fewer than the 85" in gate_lib.too_few_steps_line(12, 85)
    with pytest.raises(ValueError, match="learning_rate"):
        gate_lib.adam_steps_needed(0.15, 0.0)
