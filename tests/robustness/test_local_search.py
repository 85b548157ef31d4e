import numpy as np
import pytest
from conftest import tiny_backbone
from robustness_models import WEAK_COL, WEAK_ROW, PlantedPixelModel, dark_images

from lsg_tf.core.model import LSGModel
from lsg_tf.robustness import art_wrapper, black_box
from lsg_tf.robustness.local_search import LocalSearchAttack


def _planted():
    return art_wrapper.make_classifier(PlantedPixelModel(), "probabilities",
                                       input_shape=(8, 8, 1), nb_classes=3)


def test_local_search_finds_the_planted_weak_pixel():
    clf = _planted()
    x = dark_images(4)
    # d = 5: the neighbourhood of any pixel of an 8x8 image contains (5, 5), so the search
    # reaches it by round 2 even when all other probes tie.
    attack = LocalSearchAttack(clf, t=2, d=5, max_rounds=10, seed=0)
    x_adv = attack.generate(x, np.zeros(4, int))
    assert attack.last_success.all()
    # hand-derived: the probe sets (5, 5) to 0.5 + 10 * sign(0.1 - 0.5) = -9.5, which makes
    # class 1 win, so (5, 5) is perturbed as soon as it is a candidate; CYCLIC(1.5) maps
    # 0.1 -> unit -0.4 -> -0.6 -> wrapped +0.4 -> 0.9, and 20 * 0.8^2 > 1 flips the label.
    np.testing.assert_allclose(x_adv[:, WEAK_ROW, WEAK_COL, 0], 0.9, atol=1e-6)
    assert np.all(np.argmax(clf.predict(x_adv), axis=1) == 1)
    changed = black_box.changed_pixels(x, x_adv)
    assert np.all(changed <= attack.t * attack.last_rounds)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    # queries: each round scores its candidates in one batch plus one check of the new image
    assert np.all(attack.last_queries >= attack.last_rounds + 1)


def test_local_search_with_zero_rounds_fails_and_returns_the_input():
    clf = _planted()
    x = dark_images(3)
    attack = LocalSearchAttack(clf, max_rounds=0)
    x_adv = attack.generate(x, np.zeros(3, int))
    np.testing.assert_array_equal(x_adv, x)
    assert not attack.last_success.any() and np.all(attack.last_queries == 0)


def test_local_search_scores_all_candidates_of_a_round_in_one_prediction():
    clf = _planted()
    calls = []
    original = clf.predict

    def spy(x, *args, **kwargs):
        calls.append(len(x))
        return original(x, *args, **kwargs)

    clf.predict = spy
    attack = LocalSearchAttack(clf, t=1, d=1, max_rounds=1, initial_fraction=0.25, seed=1)
    attack.generate(dark_images(1, seed=3), np.zeros(1, int))
    assert calls == [16, 1]  # 25% of 64 candidates in one batch, then the new image


def test_local_search_invariants_on_a_tiny_lsg_model():
    model = LSGModel(tiny_backbone(filters=4), 3, input_mean=[0.5], input_std=[0.25])
    clf = art_wrapper.make_classifier(model, "probabilities")
    x = np.random.default_rng(0).random((6, 8, 8, 1)).astype(np.float32)
    y = np.argmax(model(x), axis=1)
    attack = LocalSearchAttack(clf, t=3, d=2, max_rounds=4, seed=0)
    result = black_box.run_black_box_attack("local_search", attack, clf, x, y)
    assert result.attempted.all()
    assert np.all(result.changed <= 3 * 4)
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    np.testing.assert_array_equal(result.success,
                                  np.argmax(model(result.x_adv), axis=1) != y)
    # failed images come back unchanged
    assert np.all(result.changed[~result.success] == 0)


@pytest.mark.parametrize("kwargs, message", [
    ({"p": 0.0}, r"p \(sensitivity perturbation\) must be a number > 0"),
    ({"r": 2.5}, r"r \(cyclic perturbation\) must be in \[0, 2\]"),
    ({"d": -1}, r"d \(neighbourhood half side\) must be an integer >= 0"),
    ({"t": 0}, r"t \(pixels per round\) must be an integer >= 1"),
    ({"k": 0}, r"k \(top-k criterion\) must be an integer >= 1"),
    ({"k": 3}, r"k \(top-k criterion\) must be < the 3 classes"),
    ({"max_rounds": -1}, r"max_rounds \(R\) must be an integer >= 0"),
    ({"max_rounds": 2.5}, r"max_rounds \(R\) must be an integer >= 0"),
    ({"initial_fraction": 0.0}, r"initial_fraction must be in \(0, 1\]"),
    ({"max_candidates": 0}, "max_candidates must be an integer >= 1"),
    ({"verbose": "yes"}, "verbose must be a bool"),
])
def test_local_search_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LocalSearchAttack(_planted(), **kwargs)


def test_local_search_set_params_validates_and_rejects_unknown_names():
    attack = LocalSearchAttack(_planted())
    attack.set_params(t=2)
    assert attack.t == 2
    with pytest.raises(ValueError, match="r .* must be in"):
        attack.set_params(r=3.0)
    with pytest.raises(ValueError, match="cannot be set"):
        attack.set_params(radius=3)


def test_local_search_rejects_logits_and_bad_inputs():
    model = LSGModel(tiny_backbone(filters=4), 3, input_mean=[0.5], input_std=[0.25])
    logits = art_wrapper.make_classifier(model, "logits")
    with pytest.raises(ValueError, match="outputs probabilities"):
        LocalSearchAttack(logits, max_rounds=1).generate(dark_images(1), np.zeros(1, int))
    attack = LocalSearchAttack(_planted())
    with pytest.raises(ValueError, match="y has 1 labels for 2 images"):
        attack.generate(dark_images(2), np.zeros(1, int))
    with pytest.raises(ValueError, match="no extra arguments"):
        attack.generate(dark_images(1), np.zeros(1, int), eps=0.1)
