import numpy as np
import pytest
from robustness_models import WEAK_COL, WEAK_ROW, PlantedPixelModel, dark_images

from lsg_tf.robustness import art_wrapper, black_box


class _FakeAttack:
    """Queries the classifier 7 times per image; brightens the weak pixel of even images and
    returns odd images unchanged (an attack that would claim success without one)."""

    def __init__(self, classifier):
        self.classifier = classifier
        self.calls = 0

    def generate(self, x, y):
        self.classifier.predict(np.repeat(x, 7, axis=0))
        out = x.copy()
        if self.calls % 2 == 0:
            out[:, WEAK_ROW, WEAK_COL, 0] = 0.9
        self.calls += 1
        return out


def test_run_black_box_attack_counts_only_real_label_changes_on_correct_images():
    clf = art_wrapper.make_classifier(PlantedPixelModel(), "probabilities",
                                      input_shape=(8, 8, 1), nb_classes=3)
    x = dark_images(5)
    y = np.array([0, 0, 2, 0, 0])  # image 2 is misclassified (the model says 0): not attacked
    result = black_box.run_black_box_attack("fake", _FakeAttack(clf), clf, x, y)
    np.testing.assert_array_equal(result.attempted, [True, True, False, True, True])
    # attacked images 0, 1, 3, 4 -> calls 0, 1, 2, 3: even calls change the label
    np.testing.assert_array_equal(result.success, [True, False, False, True, False])
    np.testing.assert_array_equal(result.queries, [7, 7, 0, 7, 7])
    np.testing.assert_array_equal(result.changed, [1, 0, 0, 1, 0])
    np.testing.assert_array_equal(result.x_adv[2], x[2])
    summary = result.summary()
    assert summary["candidates"] == 5 and summary["attempts"] == 4
    assert summary["successes"] == 2 and summary["success_rate"] == 0.5
    assert summary["mean_queries"] == 7.0 and summary["mean_changed_pixels_successful"] == 1.0
    assert clf.queries == 28  # the runner's own label checks are not counted


def test_summary_without_attempts_is_nan_not_an_error():
    clf = art_wrapper.make_classifier(PlantedPixelModel(), "probabilities",
                                      input_shape=(8, 8, 1), nb_classes=3)
    result = black_box.run_black_box_attack("fake", _FakeAttack(clf), clf, dark_images(2),
                                            np.array([1, 1]))
    summary = result.summary()
    assert summary["attempts"] == 0 and np.isnan(summary["success_rate"])


def test_black_box_rejects_bad_inputs():
    clf = art_wrapper.make_classifier(PlantedPixelModel(), "probabilities",
                                      input_shape=(8, 8, 1), nb_classes=3)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        black_box.run_black_box_attack("fake", None, clf, dark_images(1) * 10, np.zeros(1, int))
    with pytest.raises(ValueError, match=r"x must be \[N, H, W, C\] and y \[N\]"):
        black_box.run_black_box_attack("fake", None, clf, dark_images(2), np.zeros(3, int))
    with pytest.raises(ValueError, match="share one"):
        black_box.changed_pixels(np.zeros((1, 2, 2, 1)), np.zeros((1, 2, 3, 1)))
