import math

import keras
import numpy as np
import pytest
from conftest import tiny_backbone

from lsg_tf.core.model import LSGModel
from lsg_tf.core.schedule import Schedule

OPTIMIZERS = {
    "sgd": lambda: keras.optimizers.SGD(0.1),
    "sgd_momentum": lambda: keras.optimizers.SGD(0.1, momentum=0.9),
    "adam": lambda: keras.optimizers.Adam(0.05),
}


def _model(schedule, **kwargs):
    kwargs.setdefault("sparsity_coefficient", 0.05)
    kwargs.setdefault("density_target", 0.4)
    return LSGModel(tiny_backbone(), 3, schedule=schedule, **kwargs)


class _GateTrace(keras.callbacks.Callback):
    """Records G after every batch, with the epoch's training path."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append((self.model.training_path, self.model.gate.numpy().copy()))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_gate_constraint_holds_after_every_step(name, toy_data):
    x, y = toy_data
    model = _model(Schedule("joint"))
    model.compile(optimizer=OPTIMIZERS[name](), gate_optimizer=None)
    trace = _GateTrace()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False, callbacks=[trace])
    assert len(trace.steps) == 8
    for _, g in trace.steps:
        assert g.min() >= 0.0 and g.max() <= 1.0
        np.testing.assert_allclose(g.max(axis=0), 1.0, rtol=1e-6)
    assert not np.allclose(trace.steps[-1][1], 1.0), "the gate never moved"


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("separate_gate_optimizer", [False, True])
def test_gate_frozen_in_std_epochs_even_with_momentum(name, separate_gate_optimizer, toy_data):
    x, y = toy_data
    # period 2, phase 0: epochs 0, 2 train the LSG path, epochs 1, 3 the STD path.
    model = _model(Schedule("alternate", period=2, phase=0))
    model.compile(optimizer=OPTIMIZERS[name](),
                  gate_optimizer=OPTIMIZERS[name]() if separate_gate_optimizer else None)
    trace = _GateTrace()
    model.fit(x, y, batch_size=16, epochs=4, verbose=0, shuffle=False, callbacks=[trace])
    paths = [p for p, _ in trace.steps]
    assert paths == ["lsg"] * 4 + ["std"] * 4 + ["lsg"] * 4 + ["std"] * 4
    gates = [g for _, g in trace.steps]
    for i in range(4, 8):  # STD epoch after momentum was built up in an LSG epoch
        np.testing.assert_array_equal(gates[i], gates[3])
    for i in range(12, 16):
        np.testing.assert_array_equal(gates[i], gates[11])
    assert not np.array_equal(gates[8], gates[7]), "the LSG epoch did not update G"


def test_step_unit_takes_turns_within_each_epoch(toy_data):
    x, y = toy_data
    # 4 steps per epoch; epoch 0 STD only, then the LSG path on steps with step % 3 == 1.
    model = _model(Schedule("alternate", period=3, phase=1, warmup_epochs=1, unit="step"))
    model.compile(optimizer=OPTIMIZERS["sgd_momentum"](), gate_optimizer=OPTIMIZERS["adam"]())
    trace = _GateTrace()
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False, callbacks=[trace])
    paths = [p for p, _ in trace.steps]
    expected = ["std"] * 4 + ["lsg" if step % 3 == 1 else "std" for step in range(4, 12)]
    assert paths == expected
    gates = [np.ones_like(trace.steps[0][1])] + [g for _, g in trace.steps]
    for step, path in enumerate(paths):  # G moves on exactly the LSG steps
        assert np.array_equal(gates[step + 1], gates[step]) == (path == "std"), step


def _identity_model(gate, kernel, bias, **kwargs):
    inputs = keras.Input((1, 1, gate.shape[1]))
    model = LSGModel(keras.Model(inputs, inputs), gate.shape[0], **kwargs)
    model.gate.assign(gate)
    model.classifier.set_weights([kernel, bias])
    return model


def test_lsg_cost_and_gate_step_match_hand_derivation():
    # C = K = 2, features a = x (1x1 identity backbone), classifier W = 0, b = 0:
    # logits are 0 whatever the gate, so CE_G = ln 2 and dCE_G/dG = 0.
    # ||G||_1 = 1 + 0.5 + 0.25 + 1 = 2.75; s = 0.5 * C * K = 2; a = 0.1; lambda = 2
    # cost = 2 * (ln 2 + 0.1 * |2.75 - 2|) = 2 * ln 2 + 0.15.
    gate = np.array([[1.0, 0.5], [0.25, 1.0]], "float32")
    model = _identity_model(gate, np.zeros((2, 2), "float32"), np.zeros(2, "float32"),
                            schedule=Schedule("alternate", period=1, phase=0), lsg_weight=2.0,
                            sparsity_coefficient=0.1, density_target=0.5)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x = np.ones((4, 1, 1, 2), "float32")
    y = np.array([0, 1, 0, 1], "int32")
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert history.history["loss"][0] == pytest.approx(2 * math.log(2) + 0.15, rel=1e-6)
    # dCost/dG = lambda * a * sign(2.75 - 2) = 0.2 per entry; lr 0.1 -> every entry - 0.02:
    # [[0.98, 0.48], [0.23, 0.98]], then each column / its max 0.98.
    expected = np.array([[0.98, 0.48], [0.23, 0.98]]) / 0.98
    np.testing.assert_allclose(model.gate.numpy(), expected, rtol=1e-5)


def test_lsg_cost_matches_numpy_with_nonzero_classifier():
    rng = np.random.default_rng(3)
    gate = np.array([[1.0, 0.2, 0.7], [0.4, 1.0, 1.0]], "float32")
    kernel = rng.normal(size=(3, 2)).astype("float32")
    bias = rng.normal(size=2).astype("float32")
    x = rng.random((5, 1, 1, 3)).astype("float32")
    y = np.array([0, 1, 1, 0, 1], "int32")
    model = _identity_model(gate, kernel, bias, schedule=Schedule("joint"), lsg_weight=0.5,
                            sparsity_coefficient=0.3, density_target=0.5, sparsity_form="hinge")
    model.compile(optimizer=keras.optimizers.SGD(0.0))

    def ce(logits):
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return -logp[np.arange(len(y)), y].mean()

    a = x.reshape(5, 3)
    std_ce = ce(a @ kernel + bias)
    lsg_ce = ce((a * gate[y]) @ kernel + bias)
    sparsity = 0.3 * max(0.0, gate.sum() - 0.5 * 6)
    logs = model.fit(x, y, batch_size=5, epochs=1, verbose=0).history
    assert logs["std_ce"][0] == pytest.approx(std_ce, rel=1e-5)
    assert logs["lsg_ce"][0] == pytest.approx(lsg_ce, rel=1e-5)
    assert logs["sparsity"][0] == pytest.approx(sparsity, rel=1e-5)
    assert logs["loss"][0] == pytest.approx(std_ce + 0.5 * (lsg_ce + sparsity), rel=1e-5)


def test_std_scheme_equals_plain_keras_fit(toy_data):
    x, y = toy_data
    model = LSGModel(tiny_backbone(seed=1), 3, schedule=Schedule("std"))
    inputs = keras.Input((8, 8, 1))
    plain_backbone = tiny_backbone(seed=2)
    pooled = keras.layers.GlobalAveragePooling2D()(plain_backbone(inputs))
    plain = keras.Model(inputs, keras.layers.Dense(3)(pooled))
    plain.set_weights(model.backbone.get_weights() + model.classifier.get_weights())
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    plain.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    h1 = model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False).history
    h2 = plain.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False).history
    for w1, w2 in zip(model.backbone.get_weights() + model.classifier.get_weights(),
                      plain.get_weights()):
        np.testing.assert_allclose(w1, w2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-5)
    np.testing.assert_allclose(h1["accuracy"], h2["accuracy"])
    np.testing.assert_array_equal(model.gate.numpy(), 1.0)
    assert "lsg_ce" not in h1


def test_alternate_logs_the_cost_of_each_epochs_path(toy_data):
    x, y = toy_data
    model = _model(Schedule("alternate", period=3, phase=1), lsg_weight=2.0)
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # lr 0: every epoch sees the same model
    h = model.fit(x, y, batch_size=64, epochs=3, verbose=0).history
    assert h["loss"][0] == pytest.approx(h["std_ce"][0], rel=1e-6)
    assert h["loss"][1] == pytest.approx(2.0 * (h["lsg_ce"][1] + h["sparsity"][1]), rel=1e-6)
    assert h["loss"][2] == pytest.approx(h["std_ce"][2], rel=1e-6)


def test_fixed_gate_is_constant_and_used(toy_data):
    x, y = toy_data
    fixed = np.array([[1, 0, 0, 0, 0, 1], [0, 1, 0, 1, 0, 1], [0, 0, 1, 0, 1, 1]], "float32")
    model = _model(Schedule("joint"), fixed_gate=fixed)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.gate.numpy(), fixed)
    assert not model.gate.trainable


def test_saved_model_reloads_with_gate_and_gate_optimizer(tmp_path, toy_data):
    x, y = toy_data
    model = _model(Schedule("alternate", period=1, phase=0), class_names=["a", "b", "c"],
                   input_mean=[0.5], input_std=[0.25])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  gate_optimizer=keras.optimizers.Adam(0.01))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, LSGModel)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(loaded.gate.numpy(), model.gate.numpy())
    assert loaded.class_names == ["a", "b", "c"] and loaded.schedule == model.schedule
    assert float(loaded.gate_optimizer.learning_rate) == pytest.approx(0.01)
    for a, b in zip(model.gate_optimizer.variables, loaded.gate_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("kwargs, message", [
    ({"num_classes": 1}, "num_classes must be an integer >= 2"),
    ({"density_target": 0.01}, r"density_target must be in \[1/C, 1\]"),
    ({"sparsity_form": "l2"}, "sparsity form must be one of"),
    ({"lsg_weight": -1.0}, "lsg_weight"),
    ({"fixed_gate": np.ones((3, 5))}, r"fixed_gate has shape \(3, 5\)"),
    ({"input_std": [0.0]}, "input_std must be > 0"),
    ({"class_names": ["a"]}, "class_names has 1 names"),
])
def test_model_rejects_bad_arguments(kwargs, message):
    args = {"num_classes": 3}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        LSGModel(tiny_backbone(), **args)


def test_model_rejects_backbone_without_feature_map():
    inputs = keras.Input((8, 8, 1))
    flat = keras.Model(inputs, keras.layers.Flatten()(inputs))
    with pytest.raises(ValueError, match=r"conv feature map \[B, h, w, K\]"):
        LSGModel(flat, 3)


def test_gated_training_path_on_a_std_model_is_rejected():
    model = _model(Schedule("std"))
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="scheme is 'std'.*only 'std' is allowed"):
        model.set_training_path("lsg")
    model.set_training_path("std")  # the one path a std model has
    assert model.training_path == "std"


def test_sparsity_penalty_is_eq2_on_the_gate():
    model = _model(Schedule("joint"), sparsity_coefficient=0.5, density_target=0.5)
    norm = float(np.sum(np.abs(model.gate.numpy())))
    expected = 0.5 * abs(norm - 0.5 * model.num_classes * model.num_filters)
    assert float(model.sparsity_penalty()) == pytest.approx(expected)


def test_feature_inputs_are_taken_as_they_are():
    """image_inputs=False (cached features of a frozen part): no scaling, no range check."""
    backbone = tiny_backbone((4, 4, 3), filters=5)
    model = LSGModel(backbone, 3, input_mean=[0.5] * 3, input_std=[2.0] * 3,
                     image_inputs=False)
    features = np.full((2, 4, 4, 3), 7.0, np.float32)
    np.testing.assert_allclose(model.normalise(features), features)
    model.compile(optimizer="sgd")
    model.fit(features, np.array([0, 1]), epochs=1, verbose=0)  # values > 1.5 are accepted
    assert LSGModel.from_config(model.get_config()).image_inputs is False
    images = LSGModel(backbone, 3)
    with pytest.raises(ValueError, match="float pixel values reach 7.0"):
        images.compile(optimizer="sgd")
        images.fit(features, np.array([0, 1]), epochs=1, verbose=0)
