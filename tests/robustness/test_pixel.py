import numpy as np
import pytest
from robustness_models import WEAK_COL, WEAK_ROW, PlantedPixelModel, dark_images

from lsg_tf.robustness import art_wrapper, black_box, pixel


def _planted():
    return art_wrapper.make_classifier(PlantedPixelModel(), "probabilities",
                                       input_shape=(8, 8, 1), nb_classes=3)


def test_one_pixel_attack_changes_one_pixel_and_the_label():
    clf = _planted()
    x = dark_images(3)
    attack = pixel.make_pixel_attack(clf, pixels=1, max_iter=8, population=60, seed=0)
    result = black_box.run_black_box_attack("pixel", attack, clf, x, np.zeros(3, int))
    assert result.attempted.all()
    assert result.success.all()  # DE finds the planted pixel with this budget
    assert np.all(result.changed == 1)
    assert np.all(result.x_adv[:, WEAK_ROW, WEAK_COL, 0] != x[:, WEAK_ROW, WEAK_COL, 0])
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    np.testing.assert_array_equal(result.adv_predictions, 1)
    # one batched prediction per generation (at most 60 candidates) + one check each
    assert np.all(result.queries <= (60 + 1) * (8 + 1) + 1)
    assert np.all(result.queries >= 60)
    summary = result.summary()
    assert summary["attempts"] == 3 and summary["success_rate"] == 1.0
    assert summary["mean_changed_pixels_successful"] == 1.0


def test_pixel_attack_failures_return_the_image_unchanged():
    clf = _planted()
    x = dark_images(2, seed=1)
    x[:, WEAK_ROW, WEAK_COL, 0] = 0.1
    # class 2 is never predicted: a targeted attack towards it must fail
    attack = pixel.BudgetedPixelAttack(clf, pixels=2, max_iter=1, population=20, targeted=True)
    x_adv = attack.generate(x, np.full(2, 2))
    # bit-identical (ART's 0-255 round trip alone would change the last bits of every pixel)
    np.testing.assert_array_equal(x_adv, x)


def test_pixel_attack_is_reproducible_with_a_seed():
    x = dark_images(1, seed=2)
    a = pixel.make_pixel_attack(_planted(), max_iter=3, population=30, seed=5).generate(
        x, np.zeros(1, int))
    b = pixel.make_pixel_attack(_planted(), max_iter=3, population=30, seed=5).generate(
        x, np.zeros(1, int))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, message", [
    ({"pixels": 0}, "pixels must be an integer >= 1"),
    ({"max_iter": 0}, "max_iter must be an integer >= 1"),
    ({"population": 0}, "population must be an integer >= 1"),
    ({"population": 2.5}, "population must be an integer >= 1"),
])
def test_pixel_attack_rejects_bad_budgets(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pixel.make_pixel_attack(_planted(), **kwargs)


def test_set_params_seed_restarts_the_generator():
    attack = pixel.make_pixel_attack(_planted(), max_iter=2, population=20, seed=5)
    attack.generate(dark_images(1, seed=3), np.zeros(1, int))  # advances the stream
    fresh = np.random.default_rng(5).bit_generator.state
    assert attack._rng.bit_generator.state != fresh
    attack.set_params(seed=5)
    assert attack._rng.bit_generator.state == fresh
    attack.set_params(max_iter=3)  # other parameters leave the stream alone
    assert attack._rng.bit_generator.state == fresh
